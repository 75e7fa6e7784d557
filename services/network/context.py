"""The caller of a manager operation: its project, and what the policy lets it do across projects."""
from __future__ import annotations

from dataclasses import dataclass

from services.network.errors import bad_request, forbidden


@dataclass
class Ctx:
    """Decided at the route (appliance.routes) from the policy, so that a policy file changes them:
    `all_projects` from network:all_projects (sees and acts on every project's resources, Neutron's
    context_is_admin), `binds_ports` from network:binding (compute, which binds and unbinds any port it sees)."""
    project_id: str | None
    user_id: str | None = None
    all_projects: bool = False
    binds_ports: bool = False

    def owns(self, project_id) -> bool:
        return self.all_projects or (self.project_id is not None and self.project_id == project_id)


def owner_for(ctx: Ctx, body: dict) -> str:
    """The project a new resource belongs to: the body's project_id/tenant_id, else the caller's."""
    requested = body.get("project_id") or body.get("tenant_id")
    if body.get("project_id") and body.get("tenant_id") and body["project_id"] != body["tenant_id"]:
        raise bad_request("'project_id' and 'tenant_id' do not match.")
    if requested and requested != ctx.project_id and not ctx.all_projects:
        raise forbidden("Only an admin may create a resource for another project.")
    owner = requested or ctx.project_id
    if not owner:
        raise bad_request("A project-scoped token or a 'project_id' is required.")
    return owner
