"""/v3/roles, implied roles, grants on projects/domains/system, and /v3/role_assignments."""
from __future__ import annotations

from flask import request

from appliance import errors
from appliance.routes import Call, Route, RouteTable
from services.identity import schemas
from services.identity.api.common import manager, target
from services.identity.api.crud import Resource, crud
from services.identity.render import (collection, link, render_assignment, render_role, render_role_ref)

ROLES = Resource("roles", "role", schemas.ROLE, render_role, filters=("name", "domain_id"))


# -- implied roles --------------------------------------------------------------------------------
def list_implied(call: Call):
    prior, implied = manager().implied_roles(call.args["prior_id"])
    return {"role_inference": {"prior_role": render_role_ref(prior), "implies": [render_role_ref(r) for r in implied]},
            "links": link(f"/v3/roles/{prior.id}/implies")}


def list_role_inferences(call: Call):
    return {"role_inferences": [{"prior_role": render_role_ref(prior), "implies": [render_role_ref(r) for r in imp]}
                                for prior, imp in manager().role_inferences()], "links": link("/v3/role_inferences")}


def add_implied(call: Call):
    prior_id, implied_id = call.args["prior_id"], call.args["implied_id"]
    manager().add_implied(prior_id, implied_id)
    return {"role_inference": {"prior_role": render_role_ref(manager().show("role", prior_id)),
                               "implies": render_role_ref(manager().show("role", implied_id))}}


def check_implied(call: Call):
    manager().check_implied(call.args["prior_id"], call.args["implied_id"])


def delete_implied(call: Call):
    manager().delete_implied(call.args["prior_id"], call.args["implied_id"])


# -- grants ---------------------------------------------------------------------------------------
_ACTORS = {"users": "user", "groups": "group"}
_TARGETS = {"projects": "project", "domains": "domain"}


def _grant(call: Call) -> tuple:
    """(actor type, actor id, target type, target id) the path names; system grants target ("system", "all")."""
    a = call.args
    target_type, target_id = (_TARGETS[a["targets"]], a["target_id"]) if "targets" in a else ("system", "all")
    return _ACTORS[a["actors"]], a["actor_id"], target_type, target_id


def list_grants(call: Call):
    return manager().grants_for(*_grant(call))


def create_grant(call: Call):
    manager().grant(*_grant(call), call.args["role_id"])


def check_grant(call: Call):
    manager().find_grant(*_grant(call), call.args["role_id"])


def revoke_grant(call: Call):
    manager().revoke_grant(*_grant(call), call.args["role_id"])


def _grant_routes(base: str) -> list[Route]:
    roles, role = f"{base}/<any(users, groups):actors>/<actor_id>/roles", \
        f"{base}/<any(users, groups):actors>/<actor_id>/roles/<role_id>"
    return [
        Route("GET", roles, "identity:list_grants", list_grants, target=target(),
              render=lambda rows: collection("roles", [render_role(r) for r in rows])),
        Route("PUT", role, "identity:create_grant", create_grant, target=target(), render=dict, status=204),
        Route("GET", role, "identity:check_grant", check_grant, target=target(), render=dict, status=204),
        Route("DELETE", role, "identity:revoke_grant", revoke_grant, target=target(), render=dict, status=204),
    ]


# -- /v3/role_assignments -------------------------------------------------------------------------
def _flag(name) -> bool:
    if name not in request.args:
        return False
    return request.args.get(name, "").lower() not in ("false", "0", "no")


def _assignment_query(call: Call) -> dict:
    """The filters the query names (refused before the policy check, as Keystone does); the target is the user."""
    a = request.args
    filters = {"role_id": a.get("role.id")}
    if a.get("user.id"):
        filters.update(actor_type="user", actor_id=a["user.id"])
    if a.get("group.id"):
        filters.update(actor_type="group", actor_id=a["group.id"])
    if a.get("scope.project.id"):
        filters.update(target_type="project", target_id=a["scope.project.id"])
    if a.get("scope.domain.id"):
        filters.update(target_type="domain", target_id=a["scope.domain.id"])
    if "scope.system" in a:
        filters.update(target_type="system", target_id="all")
    effective = _flag("effective")
    if effective and a.get("group.id"):
        raise errors.BadRequest("Invalid input for field 'group.id': it cannot be combined with 'effective'.")
    call.resource = (filters, effective)
    return {"user_id": a.get("user.id")}


def role_assignments(call: Call):
    rows = manager().list_assignments(*call.resource)
    if _flag("include_names"):
        rows = [manager().name_assignment(r) for r in rows]
    return rows


TABLE = RouteTable("identity_roles", crud(ROLES) + [
    Route("GET", "/v3/roles/<prior_id>/implies", "identity:list_implied_roles", list_implied, target=target(),
          render=dict),
    Route("GET", "/v3/role_inferences", "identity:list_implied_roles", list_role_inferences, target=target(),
          render=dict),
    Route("PUT", "/v3/roles/<prior_id>/implies/<implied_id>", "identity:manage_implied_roles", add_implied,
          target=target(), render=dict, status=201),
    Route("GET", "/v3/roles/<prior_id>/implies/<implied_id>", "identity:list_implied_roles", check_implied,
          target=target(), render=dict, status=204),
    Route("DELETE", "/v3/roles/<prior_id>/implies/<implied_id>", "identity:manage_implied_roles", delete_implied,
          target=target(), render=dict, status=204),
    *_grant_routes("/v3/<any(projects, domains):targets>/<target_id>"),
    *_grant_routes("/v3/system"),
    Route("GET", "/v3/role_assignments", "identity:list_role_assignments", role_assignments,
          target=target(_assignment_query), render=lambda rows: collection(
              "role_assignments", [render_assignment(r) for r in rows])),
])
