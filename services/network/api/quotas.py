"""/v2.0/quotas: per-project limits (the operator sets them; a project reads its own)."""
from appliance.routes import Route
from services.network import schemas
from services.network.api.access import QUOTA_MANAGE, READ, manager


def _project(call) -> dict:
    """A project's quota set: its policy target is that project (another project's is refused, not hidden)."""
    return {"project_id": call.args["project_id"]}


def list_quotas(call):
    quotas = manager().quotas
    return {"quotas": [{**quotas.limits(p), "project_id": p, "tenant_id": p} for p in quotas.projects()]}


def show_quota(call):
    return {"quota": manager().quotas.limits(call.args["project_id"])}


def quota_details(call):
    quotas, project = manager().quotas, call.args["project_id"]
    limits, used = quotas.limits(project), quotas.usage(project)
    return {"quota": {k: {"limit": v, "used": used.get(k, 0), "reserved": 0} for k, v in limits.items()}}


def update_quota(call):
    return {"quota": manager().quotas.set(call.args["project_id"], call.body["quota"])}


def delete_quota(call):
    manager().quotas.reset(call.args["project_id"])


def _same(doc):
    return doc


ROUTES = [
    Route("GET", "/v2.0/quotas", QUOTA_MANAGE, list_quotas, render=_same),
    Route("GET", "/v2.0/quotas/<project_id>", READ, show_quota, load=_project, render=_same),
    Route("GET", "/v2.0/quotas/<project_id>/details", READ, quota_details, load=_project, render=_same),
    Route("PUT", "/v2.0/quotas/<project_id>", QUOTA_MANAGE, update_quota, schema=schemas.QUOTA_UPDATE,
          render=_same),
    Route("DELETE", "/v2.0/quotas/<project_id>", QUOTA_MANAGE, delete_quota, status=204, render=_same),
]
