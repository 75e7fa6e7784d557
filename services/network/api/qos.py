"""/v2.0/qos/policies, their bandwidth_limit_rules and dscp_marking_rules, and /v2.0/qos/rule-types."""
from flask import jsonify

from appliance.routes import ANY_TOKEN, Route
from services.network import render, schemas
from services.network.api.access import CTX_CHECKS, QOS_MANAGE, READ, ctx, manager, read_target
from services.network.api.listing import list_body, show_body
from services.network.api.resources import VERBS, named, resource_routes
from services.network.qos import BANDWIDTH, DSCP, RULES

# QoS policies and rules are the operator's, as in Neutron (members attach the ones they can see to their ports):
# QOS_MANAGE is checked before any lookup, so a member is refused (403) whether or not the policy exists
POLICY_ROUTES = resource_routes(
    "policies", "policy", url="/v2.0/qos/policies", of=lambda: manager().qos, names={v: v for v in VERBS},
    show=render.qos_policy, create_schema=schemas.QOS_POLICY_CREATE, update_schema=schemas.QOS_POLICY_UPDATE,
    write_rule=QOS_MANAGE, writes="after-rule")


def _rule_types(call):
    return jsonify({"rule_types": [{"type": kind} for kind in RULES]})


def rule_routes(kind: str, create_schema: dict, update_schema: dict) -> list[Route]:
    """List, create, show, update and delete of one kind of rule: /v2.0/qos/policies/<pid>/<kind>_rules."""
    url, key = f"/v2.0/qos/policies/<pid>/{kind}_rules", f"{kind}_rule"
    kw = {"checks": CTX_CHECKS}

    def load_rule(call):
        return manager().qos.get_rule(ctx(call), call.args["pid"], call.args["rid"], kind)

    def list_rules(call):
        model = RULES[kind]
        return [render.qos_rule(r) for r in model.select().where(model.policy == call.resource.id)
                .order_by(model.created_at)]

    def create(call):
        return {key: manager().qos.create_rule(ctx(call), call.args["pid"], call.body[key], kind)}

    def update(call):
        return {key: manager().qos.update_rule(ctx(call), call.args["pid"], call.args["rid"], call.body[key], kind)}

    def delete(call):
        manager().qos.delete_rule(ctx(call), call.args["pid"], call.args["rid"], kind)

    return [
        Route("GET", url, READ, named(f"list_{kind}_rules", list_rules),
              load=lambda call: manager().qos.get(ctx(call), call.args["pid"]), target=read_target,
              render=lambda docs: list_body(f"{kind}_rules", docs), **kw),
        Route("POST", url, QOS_MANAGE, named(f"create_{kind}_rule", create),
              schema=create_schema, status=201, render=lambda doc: doc, **kw),
        Route("GET", url + "/<rid>", READ, named(f"show_{kind}_rule", lambda call: call.resource),
              load=load_rule, target=read_target, render=lambda r: show_body(key, render.qos_rule(r)), **kw),
        Route("PUT", url + "/<rid>", QOS_MANAGE, named(f"update_{kind}_rule", update),
              schema=update_schema, render=lambda doc: doc, **kw),
        Route("DELETE", url + "/<rid>", QOS_MANAGE, named(f"delete_{kind}_rule", delete),
              status=204, render=lambda result: result, **kw),
    ]


ROUTES = (POLICY_ROUTES + [Route("GET", "/v2.0/qos/rule-types", ANY_TOKEN, _rule_types)]
          + rule_routes(BANDWIDTH, schemas.QOS_BW_CREATE, schemas.QOS_BW_UPDATE)
          + rule_routes(DSCP, schemas.QOS_DSCP_CREATE, schemas.QOS_DSCP_UPDATE))
