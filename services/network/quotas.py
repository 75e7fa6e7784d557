"""Per-project quotas: limits (defaults < config < per-project rows), usage, the check a create makes."""
from __future__ import annotations

import peewee

from services.network import models
from services.network.errors import bad_request, conflict, invalid_input

DEFAULT_QUOTAS = {"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
                  "security_group": 10, "security_group_rule": 100}
_QUOTA_MODELS = {"network": models.Network, "subnet": models.Subnet, "port": models.Port,
                 "router": models.Router, "floatingip": models.FloatingIP,
                 "security_group": models.SecurityGroup, "security_group_rule": models.SecurityGroupRule}


class Quotas:
    """Composed into the Manager as `manager.quotas`."""

    def __init__(self, manager):
        self.m = manager

    def projects(self) -> list[str]:
        """Every project with a quota of its own."""
        return sorted({q.project_id for q in models.Quota.select()})

    def limits(self, project_id: str) -> dict:
        limits = {**DEFAULT_QUOTAS, **{k: int(v) for k, v in self.m.conf.get("quotas", {}).items()}}
        for q in models.Quota.select().where(models.Quota.project_id == project_id):
            limits[q.resource] = q.hard_limit
        return limits

    def usage(self, project_id: str) -> dict:
        return {res: model.select().where(model.project_id == project_id).count()
                for res, model in _QUOTA_MODELS.items()}

    def check(self, project_id: str, resource: str) -> None:
        limit = self.limits(project_id).get(resource, -1)
        if limit < 0:
            return
        model = _QUOTA_MODELS[resource]
        if model.select().where(model.project_id == project_id).count() >= limit:
            raise conflict(f"Quota exceeded for resources: ['{resource}'].", "OverQuota")

    def set(self, project_id: str, body: dict) -> dict:
        for resource, value in body.items():
            if resource not in DEFAULT_QUOTAS:
                raise bad_request(f"Unrecognized attribute(s) '{resource}'", "HTTPBadRequest")
            if not isinstance(value, int) or isinstance(value, bool) or value < -1:
                raise invalid_input(f"'{value}' is not a valid quota for '{resource}': an integer >= -1 is required.")
        with self.m.db.atomic():
            for resource, value in body.items():
                try:
                    models.Quota.insert(project_id=project_id, resource=resource, hard_limit=value).on_conflict(
                        conflict_target=[models.Quota.project_id, models.Quota.resource],
                        update={models.Quota.hard_limit: value}).execute()
                except peewee.IntegrityError:
                    raise conflict("Concurrent quota update.", "Conflict") from None
        return self.limits(project_id)

    def reset(self, project_id: str) -> None:
        models.Quota.delete().where(models.Quota.project_id == project_id).execute()
