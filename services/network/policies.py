"""Default policy rules of the network service (Neutron's names, Keystone personas)."""

_OWNER_READ = "rule:admin_required or project_id:%(project_id)s"
_OWNER_WRITE = "rule:admin_required or role:service or (role:member and project_id:%(project_id)s)"

POLICIES = {
    # every GET of a resource; the managers hide what the caller cannot see (404), and what it sees without
    # owning it (a shared or external network, a port on its network) is read as its own project's
    "network:read": _OWNER_READ,
    "network:write": _OWNER_WRITE,
    # sees and changes every project's resources, creates for another project (Neutron's context_is_admin)
    "network:all_projects": "rule:admin_required",
    # attributes only an operator may set (provider segments, external, shared, ports' binding)
    "network:admin_attributes": "rule:admin_required",
    "network:binding": "rule:admin_required or rule:service_role",
    # QoS policies and their rules (Neutron: create/update/delete_policy and *_rule are admin_only)
    "network:qos:manage": "rule:admin_required",
    # every project's quotas: list, set, reset (a project reads its own with network:read)
    "network:quota:manage": "rule:admin_required",
    # the site's nodes as Neutron agents (get_agent is admin_only in Neutron)
    "network:agent:read": "rule:admin_required",
}
