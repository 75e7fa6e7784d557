"""Default policy rules of the storage service (oslo.policy syntax; override in settings.policy)."""

POLICIES = {
    # images: ownership is checked by the manager; these gate the admin-only knobs
    "image:publicize_image": "rule:admin_required",
    "image:set_owner": "rule:admin_required",
    "image:deactivate": "rule:admin_required or (role:member and project_id:%(owner)s)",
    "image:reactivate": "rule:admin_required or (role:member and project_id:%(owner)s)",
    "image:upload": "rule:admin_required or (role:member and project_id:%(owner)s)",
    "image:modify": "rule:admin_required or (role:member and project_id:%(owner)s)",
    "image:create": "role:member or rule:admin_required",
    # volumes: the target carries the resource's project_id
    "volume:read": "rule:project_reader_or_admin",
    "volume:write": "rule:project_member_or_admin",
    "volume:all_tenants": "rule:admin_required",
    "volume:reset_status": "rule:admin_required",
    "volume:manage_types": "rule:admin_required",
    "volume:update_quota": "rule:admin_required",
    "volume:read_quota": "rule:admin_required or project_id:%(project_id)s",
    # where a volume lives (os-vol-host-attr:host): admins and compute (service role), as Cinder's
    # volume_extension:volume_host_attribute; a member never learns the site's node names from it
    "volume_extension:volume_host_attribute": "rule:service_or_admin",
    # attachments are made by compute (service role) or the owner
    "volume:attach": "rule:project_member_or_admin or rule:service_role",
    # the CHAP password of an attachment's iSCSI export (connection_info.data.auth_password): compute's service
    # user logs its node in with it; a project's members never see it (with it, any host that can claim the
    # initiator name could read the volume)
    "volume_extension:attachment_auth_password": "rule:service_or_admin",
    # backend pools and their capabilities (Cinder's scheduler-stats), for compute and operators
    "scheduler_extension:scheduler_stats:get_pools": "rule:service_or_admin",
}
