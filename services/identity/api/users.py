"""/v3/users (incl. own password change and the user's projects/groups) and /v3/groups with membership."""
from __future__ import annotations

from appliance import errors
from appliance.routes import Call, Route, RouteTable
from services.identity import schemas
from services.identity.api.common import manager, target
from services.identity.api.crud import Resource, crud
from services.identity.render import collection, render_group, render_project, render_user

USERS = Resource("users", "user", schemas.USER, render_user, filters=("name", "domain_id", "enabled"))
GROUPS = Resource("groups", "group", schemas.GROUP, render_group, filters=("name", "domain_id"))


def change_password(call: Call):
    data = call.body["user"]
    manager().change_password(call.args["user_id"], data["original_password"], data["password"])


def user_projects(call: Call):
    return manager().user_projects(call.args["user_id"])


def user_groups(call: Call):
    return manager().user_groups(call.args["user_id"])


def group_users(call: Call):
    return manager().group_users(call.args["group_id"])


def add_member(call: Call):
    manager().add_member(call.args["group_id"], call.args["user_id"])


def check_member(call: Call):
    group_id, user_id = call.args["group_id"], call.args["user_id"]
    if not manager().is_member(group_id, user_id):
        raise errors.NotFound(f"User {user_id} is not a member of group {group_id}.")


def remove_member(call: Call):
    manager().remove_member(call.args["group_id"], call.args["user_id"])


def _many(key, render):
    return lambda rows: collection(key, [render(r) for r in rows])


MEMBER = "/v3/groups/<group_id>/users/<user_id>"
TABLE = RouteTable("identity_users", crud(USERS) + crud(GROUPS) + [
    Route("POST", "/v3/users/<user_id>/password", "identity:change_password", change_password, target=target(),
          schema=schemas.PASSWORD_CHANGE, render=dict, status=204),
    Route("GET", "/v3/users/<user_id>/projects", "identity:list_user_projects", user_projects, target=target(),
          render=_many("projects", render_project)),
    Route("GET", "/v3/users/<user_id>/groups", "identity:list_groups_for_user", user_groups, target=target(),
          render=_many("groups", render_group)),
    Route("GET", "/v3/groups/<group_id>/users", "identity:list_users_in_group", group_users, target=target(),
          render=_many("users", render_user)),
    Route("PUT", MEMBER, "identity:manage_group_membership", add_member, target=target(), render=dict, status=204),
    Route("GET", MEMBER, "identity:check_user_in_group", check_member, target=target(), render=dict, status=204),
    Route("DELETE", MEMBER, "identity:manage_group_membership", remove_member, target=target(), render=dict,
          status=204),
])
