"""Default compute policy rules (oslo.policy syntax), overridable from settings.policy."""

POLICIES = {
    # reading what a project owns without a role (server groups, as Nova's admin_or_owner)
    "compute:owner": "rule:admin_required or project_id:%(project_id)s",
    "compute:servers:create": "rule:admin_required or (role:member and project_id:%(project_id)s)",
    "compute:servers:read": "rule:admin_required or (role:reader and project_id:%(project_id)s)",
    "compute:servers:write": "rule:admin_required or (role:member and project_id:%(project_id)s)",
    # GET /servers?all_tenants=1 lists every project's servers (otherwise the flag is silently ignored)
    "compute:servers:all_tenants": "rule:admin_required",
    # availability_zone "zone:host" places a server on a named node (Nova's os_compute_api:servers:create:forced_host)
    "compute:servers:create:forced_host": "rule:admin_required",
    # moving a server to another node (Nova's rule names: operators override them by these)
    "os_compute_api:os-evacuate": "rule:admin_required",
    "os_compute_api:os-migrate-server:migrate": "rule:admin_required",
    "os_compute_api:os-migrations:index": "rule:admin_required",
    "compute:flavors:manage": "rule:admin_required",
    # key pairs belong to users: one's own, or (admins) another user's named by user_id
    "compute:keypairs": "rule:admin_required or user_id:%(user_id)s",
    "compute:quotas:update": "rule:admin_required",
    "compute:quotas:read": "rule:admin_required or project_id:%(project_id)s",
    "compute:hypervisors": "rule:admin_required",
    "compute:services": "rule:admin_required",
    "compute:aggregates": "rule:admin_required",
    "compute:availability_zones:detail": "rule:admin_required",
    "compute:server_groups": "rule:admin_required or (role:member and project_id:%(project_id)s)",
}
