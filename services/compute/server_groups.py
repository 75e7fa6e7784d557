"""Server groups: create (within quota), find (hiding other projects' groups), members, delete."""
from __future__ import annotations

import uuid

from appliance.errors import Forbidden, NotFound
from services.compute.models import Instance, ServerGroup


def list_for(project_id: str, all_projects: bool) -> list[ServerGroup]:
    q = ServerGroup.select()
    if not all_projects:
        q = q.where(ServerGroup.project_id == project_id)
    return list(q)


def get(group_id: str, project_id: str, admin: bool) -> ServerGroup:
    sg = ServerGroup.get_or_none(ServerGroup.id == group_id)
    if sg is None or (sg.project_id != project_id and not admin):
        raise NotFound(f"Instance group {group_id} could not be found.")
    return sg


def members(sg: ServerGroup) -> list[str]:
    return [i.id for i in Instance.select(Instance.id).where((Instance.server_group_id == sg.id) &
                                                            (Instance.deleted == False))]  # noqa: E712


def create(manager, project_id: str, user_id: str, name: str, policy: str, rules: dict | None) -> ServerGroup:
    count = ServerGroup.select().where(ServerGroup.project_id == project_id).count()
    if manager.exceeds(project_id, "server_groups", count + 1):
        raise Forbidden("Quota exceeded, too many server groups.")
    return ServerGroup.create(id=str(uuid.uuid4()), name=name, project_id=project_id, user_id=user_id,
                              policy=policy, rules=rules or {})


def delete(sg: ServerGroup) -> None:
    sg.delete_instance()
