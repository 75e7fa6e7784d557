"""Quota sets as the API shows them: limits with usage, and resetting a project to the defaults."""
from __future__ import annotations

from services.compute.models import Quota


def quota_set(manager, project_id: str, detail: bool = False) -> dict:
    """{id, resource: limit} or, for detail, {id, resource: {limit, in_use, reserved}}."""
    values = manager.quotas(project_id)
    if detail:
        used = manager.usage(project_id)
        values = {k: {"limit": v, "in_use": used.get(k, 0), "reserved": 0} for k, v in values.items()}
    return {"id": project_id, **values}


def defaults(manager, project_id: str) -> dict:
    # the defaults are the rows of project "" (or the built-in values)
    return {"id": project_id, **manager.quotas("")}


def reset(project_id: str) -> None:
    Quota.delete().where(Quota.project_id == project_id).execute()
