"""/limits and /os-quota-sets."""
from __future__ import annotations

from flask import jsonify

from appliance.errors import BadRequest
from appliance.routes import ANY_TOKEN, Route, RouteTable, manager
from services.compute import quotas, render, schemas

READ, UPDATE = "compute:quotas:read", "compute:quotas:update"


def _limits_project(call) -> dict:
    """?tenant_id= names another project's limits (an admin's question); without it, the caller's own."""
    return {"project_id": call.query.get("tenant_id") or call.project_id}


def limits(call):
    project = _limits_project(call)["project_id"]
    return jsonify(limits=render.limits(manager().quotas(project), manager().usage(project)))


def show(call):
    return jsonify(quota_set=quotas.quota_set(manager(), call.args["project_id"]))


def detail(call):
    return jsonify(quota_set=quotas.quota_set(manager(), call.args["project_id"], detail=True))


def defaults(call):
    return jsonify(quota_set=quotas.defaults(manager(), call.args["project_id"]))


def update(call):
    body = dict(call.body["quota_set"])
    body.pop("force", None)
    values = {}
    for k, v in body.items():
        try:
            values[k] = int(v)
        except ValueError:
            raise BadRequest(f"Invalid input for field 'quota_set/{k}': {v!r} is not an integer.") from None
    return jsonify(quota_set=dict(manager().set_quotas(call.args["project_id"], values)))


def reset(call):
    quotas.reset(call.args["project_id"])
    return "", 202


QUOTAS = "/v2.1/os-quota-sets/<project_id>"
# a quota set's target is the project in the URL (the path argument): another project's quotas are refused
TABLE = RouteTable("compute_quotas", [
    Route("GET", "/v2.1/limits", READ, limits, target=_limits_project),
    Route("GET", QUOTAS, READ, show),
    Route("GET", f"{QUOTAS}/detail", READ, detail),
    # the defaults are the same for everyone and say nothing about the project
    Route("GET", f"{QUOTAS}/defaults", ANY_TOKEN, defaults),
    Route("PUT", QUOTAS, UPDATE, update, schema=schemas.QUOTA_UPDATE),
    Route("DELETE", QUOTAS, UPDATE, reset),
])
