"""/os-server-groups."""
from __future__ import annotations

from flask import jsonify

from appliance.errors import BadRequest
from appliance.routes import ANY_TOKEN, Route, RouteTable, manager
from services.compute import render, schemas, server_groups
from services.compute.microversion import at_least

ADMIN = "admin_required"   # sees every project's groups (all_projects) and finds them by id
OWNER, WRITE = "compute:owner", "compute:server_groups"


def _shown(sg) -> dict:
    return {"server_group": render.server_group(sg, server_groups.members(sg))}


def index(call):
    everyone = bool(call.query.get("all_projects")) and call.check(ADMIN)
    found = server_groups.list_for(call.project_id, everyone)
    return jsonify(server_groups=[render.server_group(sg, server_groups.members(sg)) for sg in found])


def _load(call):
    return server_groups.get(call.args["group_id"], call.project_id, call.check(ADMIN))


def show(call):
    return call.resource


def create(call):
    body = call.body["server_group"]
    if at_least(64):
        if "policies" in body or "policy" not in body:
            raise BadRequest("Invalid input for field 'server_group/policy': 'policy' is a required property.")
        policy = body["policy"]
    else:
        if "policy" in body or "rules" in body or "policies" not in body:
            raise BadRequest("Invalid input for field 'server_group/policies': 'policies' is a required property.")
        policy = body["policies"][0]
    if body.get("rules") and policy != "anti-affinity":
        raise BadRequest("Only anti-affinity policy supports rules.")
    return server_groups.create(manager(), call.project_id, call.context.user_id, body["name"], policy,
                                body.get("rules"))


def delete(call):
    server_groups.delete(call.resource)
    return "", 204


GROUP = "/v2.1/os-server-groups/<group_id>"
TABLE = RouteTable("compute_server_groups", [
    # the listing shows the caller's own project's groups (every project's for an admin asking all_projects)
    Route("GET", "/v2.1/os-server-groups", ANY_TOKEN, index, checks=(ADMIN,)),
    Route("POST", "/v2.1/os-server-groups", WRITE, create, schema=schemas.CREATE_GROUP, render=_shown),
    # another project's group is not found; within the project, readers read (Nova's admin_or_owner)
    Route("GET", GROUP, OWNER, show, load=_load, render=_shown, checks=(ADMIN,)),
    Route("DELETE", GROUP, WRITE, delete, load=_load, checks=(ADMIN,)),
])
