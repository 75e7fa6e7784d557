"""Default policy rules of the federation hub (oslo.policy syntax; override in settings.policy).

Sites belong to the fleet, not to a project: cloud admins manage them; system-scoped readers may look.
"""

POLICIES = {
    "fleet_reader": "rule:admin_required or (role:reader and system_scope:all)",
    "federation:issue_enrolment_token": "rule:admin_required",
    "federation:list_sites": "rule:fleet_reader",
    "federation:get_site": "rule:fleet_reader",
    "federation:update_site": "rule:admin_required",
    "federation:decommission_site": "rule:admin_required",
    "federation:delete_site": "rule:admin_required",
    "federation:list_site_groups": "rule:fleet_reader",
    "federation:get_site_group": "rule:fleet_reader",
    "federation:create_site_group": "rule:admin_required",
    "federation:update_site_group": "rule:admin_required",
    "federation:delete_site_group": "rule:admin_required",
}
