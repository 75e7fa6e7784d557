"""/v3/roles, implied roles, grants on projects/domains/system, and /v3/role_assignments."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from appliance import errors
from services.identity.api.common import enforce
from services.identity import schemas
from services.identity.api.common import (args, base, body, collection, link, mgr,
                                          render_role)
from services.identity.models import Domain, Group, ImpliedRole, Project, Role, User

bp = Blueprint("identity_roles", __name__)


@bp.get("/v3/roles")
def list_roles():
    enforce("identity:list_roles")
    rows = mgr().list(Role, args("name", "domain_id"))
    return jsonify(collection("roles", [render_role(r) for r in rows]))


@bp.post("/v3/roles")
def create_role():
    enforce("identity:create_role")
    data = body(schemas.create("role", schemas.ROLE), "role")
    return jsonify({"role": render_role(mgr().create_role(data))}), 201


@bp.get("/v3/roles/<role_id>")
def get_role(role_id):
    enforce("identity:get_role")
    return jsonify({"role": render_role(mgr().get(Role, role_id))})


@bp.patch("/v3/roles/<role_id>")
def update_role(role_id):
    enforce("identity:update_role")
    data = body(schemas.update("role", schemas.ROLE), "role")
    return jsonify({"role": render_role(mgr().update_role(role_id, data))})


@bp.delete("/v3/roles/<role_id>")
def delete_role(role_id):
    enforce("identity:delete_role")
    mgr().delete_role(role_id)
    return "", 204


def _role_ref(role):
    return {"id": role.id, "name": role.name, "links": link(f"/v3/roles/{role.id}")}


@bp.get("/v3/roles/<prior_id>/implies")
def list_implied(prior_id):
    enforce("identity:list_implied_roles")
    prior = mgr().get(Role, prior_id)
    implied = [mgr().get(Role, r.implied_role_id) for r in
               ImpliedRole.select().where(ImpliedRole.prior_role_id == prior.id)]
    return jsonify({"role_inference": {"prior_role": _role_ref(prior), "implies": [_role_ref(r) for r in implied]},
                    "links": link(f"/v3/roles/{prior.id}/implies")})


@bp.get("/v3/role_inferences")
def list_role_inferences():
    enforce("identity:list_implied_roles")
    roles = {r.id: r for r in Role.select()}
    grouped: dict[str, list] = {}
    for rule in ImpliedRole.select().order_by(ImpliedRole.created_at):
        if rule.prior_role_id in roles and rule.implied_role_id in roles:
            grouped.setdefault(rule.prior_role_id, []).append(_role_ref(roles[rule.implied_role_id]))
    return jsonify({"role_inferences": [{"prior_role": _role_ref(roles[p]), "implies": imp}
                                        for p, imp in grouped.items()], "links": link("/v3/role_inferences")})


@bp.put("/v3/roles/<prior_id>/implies/<implied_id>")
def add_implied(prior_id, implied_id):
    enforce("identity:manage_implied_roles")
    mgr().add_implied(prior_id, implied_id)
    return jsonify({"role_inference": {"prior_role": _role_ref(mgr().get(Role, prior_id)),
                                       "implies": _role_ref(mgr().get(Role, implied_id))}}), 201


@bp.get("/v3/roles/<prior_id>/implies/<implied_id>")
def check_implied(prior_id, implied_id):
    enforce("identity:list_implied_roles")
    mgr().get(Role, prior_id), mgr().get(Role, implied_id)
    if not ImpliedRole.get_or_none((ImpliedRole.prior_role_id == prior_id) &
                                   (ImpliedRole.implied_role_id == implied_id)):
        raise errors.NotFound(f"Could not find implied role: {prior_id} implies {implied_id}.")
    return "", 204


@bp.delete("/v3/roles/<prior_id>/implies/<implied_id>")
def delete_implied(prior_id, implied_id):
    enforce("identity:manage_implied_roles")
    deleted = ImpliedRole.delete().where((ImpliedRole.prior_role_id == prior_id) &
                                         (ImpliedRole.implied_role_id == implied_id)).execute()
    if not deleted:
        raise errors.NotFound(f"Could not find implied role: {prior_id} implies {implied_id}.")
    return "", 204


# -- grants ---------------------------------------------------------------------------------------
_ACTORS = {"users": "user", "groups": "group"}
_TARGETS = {"projects": "project", "domains": "domain"}


def _grant_view(target_type, target_id, actor_type, actor_id, role_id=None):
    if request.method == "GET" and role_id is None:
        enforce("identity:list_grants")
        roles = mgr().grants_for(actor_type, actor_id, target_type, target_id)
        return jsonify(collection("roles", [render_role(r) for r in roles]))
    if request.method == "PUT":
        enforce("identity:create_grant")
        mgr().grant(actor_type, actor_id, target_type, target_id, role_id)
    elif request.method == "DELETE":
        enforce("identity:revoke_grant")
        mgr().revoke_grant(actor_type, actor_id, target_type, target_id, role_id)
    else:
        enforce("identity:check_grant")
        mgr().find_grant(actor_type, actor_id, target_type, target_id, role_id)
    return "", 204


@bp.route("/v3/<any(projects, domains):targets>/<target_id>/<any(users, groups):actors>/<actor_id>/roles",
          methods=["GET"])
def list_grants(targets, target_id, actors, actor_id):
    return _grant_view(_TARGETS[targets], target_id, _ACTORS[actors], actor_id)


@bp.route("/v3/<any(projects, domains):targets>/<target_id>/<any(users, groups):actors>/<actor_id>/roles/<role_id>",
          methods=["GET", "PUT", "DELETE"])
def grant(targets, target_id, actors, actor_id, role_id):
    return _grant_view(_TARGETS[targets], target_id, _ACTORS[actors], actor_id, role_id)


@bp.route("/v3/system/<any(users, groups):actors>/<actor_id>/roles", methods=["GET"])
def list_system_grants(actors, actor_id):
    return _grant_view("system", "all", _ACTORS[actors], actor_id)


@bp.route("/v3/system/<any(users, groups):actors>/<actor_id>/roles/<role_id>", methods=["GET", "PUT", "DELETE"])
def system_grant(actors, actor_id, role_id):
    return _grant_view("system", "all", _ACTORS[actors], actor_id, role_id)


# -- /v3/role_assignments -------------------------------------------------------------------------
def _flag(name) -> bool:
    if name not in request.args:
        return False
    return request.args.get(name, "").lower() not in ("false", "0", "no")


@bp.get("/v3/role_assignments")
def role_assignments():
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
    enforce("identity:list_role_assignments", {"user_id": a.get("user.id")})
    names = _flag("include_names")
    rows = mgr().list_assignments(filters, effective)
    out = [_render_assignment(r, names) for r in rows]
    return jsonify(collection("role_assignments", out))


def _named(model, ident, with_domain=True):
    obj = model.get_or_none(model.id == ident)
    ref = {"id": ident}
    if obj is not None:
        ref["name"] = obj.name
        if with_domain and getattr(obj, "domain_id", None):
            domain = Domain.get_or_none(Domain.id == obj.domain_id)
            ref["domain"] = {"id": obj.domain_id, "name": domain.name if domain else ""}
    return ref


def _render_assignment(row, names: bool) -> dict:
    actor_key, target_key = row["actor_type"], row["target_type"]
    if names:
        actor = _named(User if actor_key == "user" else Group, row["actor_id"])
        role = _named(Role, row["role_id"])
        if target_key == "project":
            target = _named(Project, row["target_id"])
        elif target_key == "domain":
            target = _named(Domain, row["target_id"], with_domain=False)
        else:
            target = {"all": True}
    else:
        actor, role = {"id": row["actor_id"]}, {"id": row["role_id"]}
        target = {"all": True} if target_key == "system" else {"id": row["target_id"]}
    path = ("/v3/system" if target_key == "system" else f"/v3/{target_key}s/{row['target_id']}") + \
        f"/{actor_key}s/{row['actor_id']}/roles/{row['role_id']}"
    out = {"role": role, actor_key: actor, "scope": {target_key: target}, "links": {"assignment": base() + path}}
    if row.get("via_group"):
        out["links"]["membership"] = base() + f"/v3/groups/{row['via_group']}/users/{row['actor_id']}"
    if row.get("prior_role"):
        out["links"]["prior_role"] = base() + f"/v3/roles/{row['prior_role']}"
    return out


