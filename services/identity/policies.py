"""Default identity policy (Keystone-like): admin manages everything; others see and manage only themselves."""

ADMIN = "rule:admin_required"
OWNER = "user_id:%(target.user_id)s"
ADMIN_OR_OWNER = f"{ADMIN} or {OWNER}"
ANYONE = "@"

POLICIES = {
    # an admin role on a domain does not make a cloud admin (Keystone bug 968696): only project- or
    # system-scoped admin tokens manage the cloud; domain-scoped tokens get what any user gets
    "admin_required": "role:admin and not domain_id:%(token_domain_id)s",
    "identity:get_domain": f"{ADMIN} or domain_id:%(target.domain_id)s or project_domain_id:%(target.domain_id)s",
    "identity:list_domains": ADMIN,
    "identity:create_domain": ADMIN,
    "identity:update_domain": ADMIN,
    "identity:delete_domain": ADMIN,
    "identity:get_project": f"{ADMIN} or project_id:%(target.project_id)s",
    "identity:list_projects": ADMIN,
    "identity:list_user_projects": ADMIN_OR_OWNER,
    "identity:create_project": ADMIN,
    "identity:update_project": ADMIN,
    "identity:delete_project": ADMIN,
    "identity:get_user": ADMIN_OR_OWNER,
    "identity:list_users": ADMIN,
    "identity:create_user": ADMIN,
    "identity:update_user": ADMIN,
    "identity:delete_user": ADMIN,
    "identity:change_password": OWNER,
    "identity:get_group": ADMIN,
    "identity:list_groups": ADMIN,
    "identity:list_groups_for_user": ADMIN_OR_OWNER,
    "identity:create_group": ADMIN,
    "identity:update_group": ADMIN,
    "identity:delete_group": ADMIN,
    "identity:list_users_in_group": ADMIN,
    "identity:manage_group_membership": ADMIN,
    "identity:check_user_in_group": ADMIN,
    # roles, services and endpoints are read by operators only, as in Keystone (users get the catalog in tokens)
    "identity:get_role": ADMIN,
    "identity:list_roles": ADMIN,
    "identity:create_role": ADMIN,
    "identity:update_role": ADMIN,
    "identity:delete_role": ADMIN,
    "identity:list_implied_roles": ADMIN,
    "identity:manage_implied_roles": ADMIN,
    "identity:check_grant": ADMIN,
    "identity:list_grants": ADMIN,
    "identity:create_grant": ADMIN,
    "identity:revoke_grant": ADMIN,
    "identity:list_role_assignments": ADMIN_OR_OWNER,
    "identity:get_region": ANYONE,
    "identity:list_regions": ANYONE,
    "identity:manage_regions": ADMIN,
    "identity:get_service": ADMIN,
    "identity:list_services": ADMIN,
    "identity:manage_services": ADMIN,
    "identity:get_endpoint": ADMIN,
    "identity:list_endpoints": ADMIN,
    "identity:manage_endpoints": ADMIN,
    "identity:create_application_credential": OWNER,
    "identity:get_application_credential": ADMIN_OR_OWNER,
    "identity:list_application_credentials": ADMIN_OR_OWNER,
    "identity:delete_application_credential": ADMIN_OR_OWNER,
    # the storage service reads EC2 secrets with its service token to check S3 signatures
    "identity:get_credential": f"{ADMIN} or rule:service_role or {OWNER}",
    "identity:list_credentials": ANYONE,  # non-admins get only their own (filtered in the view)
    "identity:create_credential": ADMIN_OR_OWNER,
    "identity:update_credential": ADMIN_OR_OWNER,
    "identity:delete_credential": ADMIN_OR_OWNER,
    "identity:ec2_credentials": ADMIN_OR_OWNER,
    "identity:validate_token": f"rule:service_or_admin or {OWNER}",
    "identity:revoke_token": f"rule:service_or_admin or {OWNER}",
}
