"""/v3/users (incl. own password change and the user's projects/groups) and /v3/groups with membership."""
from __future__ import annotations

from flask import Blueprint, jsonify

from appliance.app import json_body
from services.identity.api.common import enforce
from services.identity import schemas
from services.identity.api.common import (args, body, collection, mgr, render_group, render_project,
                                          render_user)
from services.identity.models import Group, Project, User

bp = Blueprint("identity_users", __name__)


@bp.get("/v3/users")
def list_users():
    enforce("identity:list_users")
    rows = mgr().list(User, args("name", "domain_id", "enabled"))
    return jsonify(collection("users", [render_user(u) for u in rows]))


@bp.post("/v3/users")
def create_user():
    enforce("identity:create_user")
    data = body(schemas.create("user", schemas.USER), "user")
    return jsonify({"user": render_user(mgr().create_user(data))}), 201


@bp.get("/v3/users/<user_id>")
def get_user(user_id):
    enforce("identity:get_user", {"user_id": user_id})
    return jsonify({"user": render_user(mgr().get(User, user_id))})


@bp.patch("/v3/users/<user_id>")
def update_user(user_id):
    enforce("identity:update_user", {"user_id": user_id})
    data = body(schemas.update("user", schemas.USER), "user")
    return jsonify({"user": render_user(mgr().update_user(user_id, data))})


@bp.delete("/v3/users/<user_id>")
def delete_user(user_id):
    enforce("identity:delete_user", {"user_id": user_id})
    mgr().delete_user(user_id)
    return "", 204


@bp.post("/v3/users/<user_id>/password")
def change_password(user_id):
    enforce("identity:change_password", {"user_id": user_id})
    data = json_body(schemas.PASSWORD_CHANGE)["user"]
    mgr().change_password(user_id, data["original_password"], data["password"])
    return "", 204


@bp.get("/v3/users/<user_id>/projects")
def user_projects(user_id):
    enforce("identity:list_user_projects", {"user_id": user_id})
    mgr().get(User, user_id)
    ids = mgr().user_targets(user_id, "project")
    rows = Project.select().where(Project.id.in_(ids)).order_by(Project.name) if ids else []
    return jsonify(collection("projects", [render_project(p) for p in rows]))


@bp.get("/v3/users/<user_id>/groups")
def user_groups(user_id):
    enforce("identity:list_groups_for_user", {"user_id": user_id})
    return jsonify(collection("groups", [render_group(gr) for gr in mgr().user_groups(user_id)]))


@bp.get("/v3/groups")
def list_groups():
    enforce("identity:list_groups")
    rows = mgr().list(Group, args("name", "domain_id"))
    return jsonify(collection("groups", [render_group(gr) for gr in rows]))


@bp.post("/v3/groups")
def create_group():
    enforce("identity:create_group")
    data = body(schemas.create("group", schemas.GROUP), "group")
    return jsonify({"group": render_group(mgr().create_group(data))}), 201


@bp.get("/v3/groups/<group_id>")
def get_group(group_id):
    enforce("identity:get_group")
    return jsonify({"group": render_group(mgr().get(Group, group_id))})


@bp.patch("/v3/groups/<group_id>")
def update_group(group_id):
    enforce("identity:update_group")
    data = body(schemas.update("group", schemas.GROUP), "group")
    return jsonify({"group": render_group(mgr().update_group(group_id, data))})


@bp.delete("/v3/groups/<group_id>")
def delete_group(group_id):
    enforce("identity:delete_group")
    mgr().delete_group(group_id)
    return "", 204


@bp.get("/v3/groups/<group_id>/users")
def group_users(group_id):
    enforce("identity:list_users_in_group")
    return jsonify(collection("users", [render_user(u) for u in mgr().group_users(group_id)]))


@bp.put("/v3/groups/<group_id>/users/<user_id>")
def add_member(group_id, user_id):
    enforce("identity:manage_group_membership")
    mgr().add_member(group_id, user_id)
    return "", 204


@bp.get("/v3/groups/<group_id>/users/<user_id>")
def check_member(group_id, user_id):
    enforce("identity:check_user_in_group")
    if not mgr().is_member(group_id, user_id):
        from appliance import errors
        raise errors.NotFound(f"User {user_id} is not a member of group {group_id}.")
    return "", 204


@bp.delete("/v3/groups/<group_id>/users/<user_id>")
def remove_member(group_id, user_id):
    enforce("identity:manage_group_membership")
    mgr().remove_member(group_id, user_id)
    return "", 204
