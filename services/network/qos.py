"""QoS policies and their bandwidth-limit and DSCP-marking rules (the operator's; projects attach the ones they can
see)."""
from __future__ import annotations

from services.network import models, render
from services.network.context import Ctx, owner_for
from services.network.errors import conflict, not_found
from services.network.models import bump

BANDWIDTH, DSCP = "bandwidth_limit", "dscp_marking"
RULES = {BANDWIDTH: models.QosBandwidthLimitRule, DSCP: models.QosDscpMarkingRule}
_FIELDS = {BANDWIDTH: ("max_kbps", "max_burst_kbps", "direction"), DSCP: ("dscp_mark",)}


class QosPolicies:
    """Composed into the Manager as `manager.qos`."""

    def __init__(self, manager):
        self.m = manager

    def get(self, ctx: Ctx, policy_id: str) -> models.QosPolicy:
        p = models.QosPolicy.get_or_none(models.QosPolicy.id == policy_id)
        if p is None or not (ctx.owns(p.project_id) or p.shared):
            raise not_found("QosPolicy", "QoS policy", policy_id)
        return p

    def list(self, ctx: Ctx) -> list[dict]:
        return [render.qos_policy(p) for p in models.QosPolicy.select().order_by(models.QosPolicy.created_at)
                if ctx.owns(p.project_id) or p.shared]

    def create(self, ctx: Ctx, body: dict) -> dict:
        owner = owner_for(ctx, body)
        p = models.QosPolicy.create(project_id=owner, name=body.get("name", ""),
                                    description=body.get("description", ""), shared=bool(body.get("shared", False)),
                                    is_default=bool(body.get("is_default", False)), tags=list(body.get("tags", [])))
        return render.qos_policy(p)

    def update(self, ctx: Ctx, policy_id: str, body: dict) -> dict:
        p = self.get(ctx, policy_id)
        if not ctx.owns(p.project_id):
            raise not_found("QosPolicy", "QoS policy", policy_id)
        bump(p, **{k: body[k] for k in ("name", "description", "shared", "is_default") if k in body})
        return render.qos_policy(p)

    def delete(self, ctx: Ctx, policy_id: str) -> None:
        p = self.get(ctx, policy_id)
        if not ctx.owns(p.project_id):
            raise not_found("QosPolicy", "QoS policy", policy_id)
        if (models.Port.select().where(models.Port.qos_policy_id == p.id).exists()
                or models.Network.select().where(models.Network.qos_policy_id == p.id).exists()):
            raise conflict(f"QoS Policy {p.id} is used by a port or network.", "QosPolicyInUse")
        p.delete_instance()

    def create_rule(self, ctx: Ctx, policy_id: str, body: dict, kind: str = BANDWIDTH) -> dict:
        p = self.get(ctx, policy_id)
        if not ctx.owns(p.project_id):
            raise not_found("QosPolicy", "QoS policy", policy_id)
        model = RULES[kind]
        if kind == BANDWIDTH:
            direction = body.get("direction", "egress")
            if model.select().where((model.policy == p.id) & (model.direction == direction)).exists():
                raise conflict(f"Rule bandwidth_limit with direction {direction} already exists in QoS policy {p.id}.",
                               "QoSRulesConflict")
            rule = model.create(policy=p, max_kbps=body["max_kbps"], max_burst_kbps=body.get("max_burst_kbps", 0),
                                direction=direction)
        else:
            if model.select().where(model.policy == p.id).exists():
                raise conflict(f"Rule dscp_marking already exists in QoS policy {p.id}.", "QoSRulesConflict")
            rule = model.create(policy=p, dscp_mark=body["dscp_mark"])
        self.m.sync()
        return render.qos_rule(rule)

    def get_rule(self, ctx: Ctx, policy_id: str, rule_id: str, kind: str = BANDWIDTH):
        p = self.get(ctx, policy_id)
        model = RULES[kind]
        r = model.get_or_none((model.id == rule_id) & (model.policy == p.id))
        if r is None:
            raise not_found("QosRule", f"QoS rule {rule_id} for policy", policy_id)
        return r

    def update_rule(self, ctx: Ctx, policy_id: str, rule_id: str, body: dict, kind: str = BANDWIDTH) -> dict:
        r = self.get_rule(ctx, policy_id, rule_id, kind)
        for k in _FIELDS[kind]:
            if k in body:
                setattr(r, k, body[k])
        r.save()
        self.m.sync()
        return render.qos_rule(r)

    def delete_rule(self, ctx: Ctx, policy_id: str, rule_id: str, kind: str = BANDWIDTH) -> None:
        self.get_rule(ctx, policy_id, rule_id, kind).delete_instance()
        self.m.sync()
