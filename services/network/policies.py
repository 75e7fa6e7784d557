"""Default policy rules of the network service (Neutron's names, Keystone personas)."""

_OWNER_READ = "rule:admin_required or project_id:%(project_id)s"
_OWNER_WRITE = "rule:admin_required or role:service or (role:member and project_id:%(project_id)s)"

POLICIES = {
    "network:read": _OWNER_READ,
    "network:write": _OWNER_WRITE,
    # attributes only an operator may set (provider segments, external, shared, ports' binding)
    "network:admin_attributes": "rule:admin_required",
    "network:binding": "rule:admin_required or rule:service_role",
    # QoS policies and their rules (Neutron: create/update/delete_policy and *_rule are admin_only)
    "network:qos:manage": "rule:admin_required",
}
