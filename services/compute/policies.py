"""Default compute policy rules (oslo.policy syntax), overridable from settings.policy."""

POLICIES = {
    "compute:owner": "rule:admin_required or project_id:%(project_id)s",
    "compute:servers:create": "rule:admin_required or (role:member and project_id:%(project_id)s)",
    "compute:servers:read": "rule:admin_required or (role:reader and project_id:%(project_id)s)",
    "compute:servers:write": "rule:admin_required or (role:member and project_id:%(project_id)s)",
    "compute:servers:all_tenants": "rule:admin_required",
    "compute:flavors:manage": "rule:admin_required",
    "compute:quotas:update": "rule:admin_required",
    "compute:quotas:read": "rule:admin_required or project_id:%(project_id)s",
    "compute:hypervisors": "rule:admin_required",
    "compute:services": "rule:admin_required",
    "compute:availability_zones:detail": "rule:admin_required",
    "compute:server_groups": "rule:admin_required or (role:member and project_id:%(project_id)s)",
}
