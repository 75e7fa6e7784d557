"""e2e: identity as ordinary users (member, reader, a second project's member) through the unmodified openstack CLI."""
from __future__ import annotations

import pytest
import requests

from appliance.testing.cloud import assert_cli_refused, ordinary_users

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def users(cloud):
    """The admin only makes the projects and users; everything else runs as them."""
    return ordinary_users(cloud)


_NOT_FOUND = ("404", "No ApplicationCredential found", "Could not find", "not found")


def _app_cred_env(cloud, made):
    """An environment with no clouds.yaml: only the application credential authenticates."""
    env = {k: v for k, v in cloud.env.items() if k not in ("OS_CLOUD", "OS_CLIENT_CONFIG_FILE")}
    env.update({"OS_AUTH_TYPE": "v3applicationcredential", "OS_AUTH_URL": cloud.url("identity", "/v3"),
                "OS_APPLICATION_CREDENTIAL_ID": made["ID"], "OS_APPLICATION_CREDENTIAL_SECRET": made["Secret"],
                "OS_IDENTITY_API_VERSION": "3", "OS_REGION_NAME": "RegionOne"})
    return env


def test_member_application_credential_lifecycle(cloud, users):
    alice = users["alice"]
    made = alice.openstack_json("application", "credential", "create", "--description", "ci", "alice-ac")
    assert made["ID"] and made["Secret"] and made["Name"] == "alice-ac"
    assert "alice-ac" in {c["Name"] for c in alice.openstack_json("application", "credential", "list")}
    assert alice.openstack_json("application", "credential", "show", "alice-ac")["ID"] == made["ID"]

    # the CLI authenticates with it alone, scoped to alice's project with her role
    exe_env = _app_cred_env(cloud, made)
    tok = cloud.openstack_json("token", "issue", env=exe_env)
    assert tok["user_id"] == alice.user_id and tok["project_id"] == alice.project_id
    # a wrong secret is refused (401 from Keystone)
    bad = cloud.openstack("token", "issue", env={**exe_env, "OS_APPLICATION_CREDENTIAL_SECRET": "nope"},
                          check=False)
    assert_cli_refused(bad, "401", "Unauthorized", "authenticate")

    alice.openstack("application", "credential", "delete", "alice-ac")
    assert "alice-ac" not in {c["Name"] for c in alice.openstack_json("application", "credential", "list")}
    assert_cli_refused(cloud.openstack("token", "issue",
                                       env=exe_env, check=False), "401", "Unauthorized", "authenticate")


def test_member_ec2_credentials(users):
    alice = users["alice"]
    made = alice.openstack_json("ec2", "credentials", "create")
    assert made["access"] and made["secret"] and made["project_id"] == alice.project_id
    listed = alice.openstack_json("ec2", "credentials", "list")
    assert made["access"] in {c["Access"] for c in listed}
    assert alice.openstack_json("ec2", "credentials", "show", made["access"])["secret"] == made["secret"]
    alice.openstack("ec2", "credentials", "delete", made["access"])
    assert made["access"] not in {c["Access"] for c in alice.openstack_json("ec2", "credentials", "list")}


def test_other_project_cannot_touch_alices_credentials(users):
    alice, bob = users["alice"], users["bob"]
    ac = alice.openstack_json("application", "credential", "create", "alice-private")
    ec2 = alice.openstack_json("ec2", "credentials", "create")
    try:
        # bob's own lists never show alice's
        assert "alice-private" not in {c["Name"] for c in bob.openstack_json("application", "credential", "list")}
        assert ec2["access"] not in {c["Access"] for c in bob.openstack_json("ec2", "credentials", "list")}
        assert all(c["User ID"] == bob.user_id for c in bob.openstack_json("credential", "list"))
        # naming alice explicitly is refused
        assert_cli_refused(bob.openstack("application", "credential", "list", "--user", alice.user_id, check=False))
        assert_cli_refused(bob.openstack("ec2", "credentials", "list", "--user", alice.user_id, check=False))
        assert_cli_refused(bob.openstack("ec2", "credentials", "show", "--user", alice.user_id,
                                         ec2["access"], check=False))
        assert_cli_refused(bob.openstack("ec2", "credentials", "delete", "--user", alice.user_id, ec2["access"],
                                         check=False))
        # by id under bob's own user: not found (it is not his)
        assert_cli_refused(bob.openstack("application", "credential", "show", ac["ID"], check=False),
                           *_NOT_FOUND)
        assert_cli_refused(bob.openstack("application", "credential", "delete", ac["ID"], check=False),
                           *_NOT_FOUND, "Failed to delete")
        # and alice's things are all still there
        assert ac["ID"] in {c["ID"] for c in alice.openstack_json("application", "credential", "list")}
        assert ec2["access"] in {c["Access"] for c in alice.openstack_json("ec2", "credentials", "list")}
    finally:
        alice.openstack("application", "credential", "delete", ac["ID"])
        alice.openstack("ec2", "credentials", "delete", ec2["access"])


def test_member_refused_admin_only_operations(cloud, users):
    alice = users["alice"]
    assert_cli_refused(alice.openstack("project", "create", "--domain", "default", "alice-proj", check=False))
    assert_cli_refused(alice.openstack("user", "create", "--domain", "default", "--password", "Xx-123456", "mallory",
                                       check=False))
    # the CLI's `role add` (openstacksdk's assign_role_to_user) ignores a refusal and exits 0, so check the API's
    # answer and that nothing was granted
    alice.openstack("role", "add", "--project", alice.project_id, "--user", alice.user_id, "admin", check=False)
    roles = {r["Role"] for r in alice.openstack_json("role", "assignment", "list", "--user", alice.user_id,
                                                       "--names")}
    assert roles == {"member"}, roles
    assert_cli_refused(alice.openstack("role", "show",
                                       "admin", check=False))  # roles are read by operators, as in Keystone
    admin_role = cloud.openstack_json("role", "show", "admin")["id"]
    resp = requests.put(cloud.url("identity", f"/v3/projects/{alice.project_id}/users/{alice.user_id}/roles/"
                                              f"{admin_role}"), headers={"X-Auth-Token": alice.token()})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == 403, resp.text
    # GET /v3/projects is admin-only; the CLI falls back to the user's own projects on 403, as against Keystone
    assert [p["Name"] for p in alice.openstack_json("project", "list")] == ["proj-a"]
    assert_cli_refused(alice.openstack("user", "list", check=False))
    # what every user may do still works
    tok = alice.openstack_json("token", "issue")
    assert tok["user_id"] == alice.user_id and tok["project_id"] == alice.project_id
    assert_cli_refused(alice.openstack("role", "list", check=False))
    assert_cli_refused(alice.openstack("endpoint", "list", check=False))
    assert [p["Name"] for p in alice.openstack_json("project", "list", "--my-projects")] == ["proj-a"]


def test_reader_tokens_and_own_application_credentials(cloud, users):
    rita = users["rita"]
    tok = rita.openstack_json("token", "issue")
    assert tok["user_id"] == rita.user_id and tok["project_id"] == rita.project_id
    assert rita.openstack_json("application", "credential", "list") == []
    # Keystone's default for create_application_credential is the owner rule alone (no role check): a reader may
    # make one, and it carries only the reader role
    made = rita.openstack_json("application", "credential", "create", "rita-ac")
    assert "reader" in str(made["Roles"]) and "member" not in str(made["Roles"])
    assert "rita-ac" in {c["Name"] for c in rita.openstack_json("application", "credential", "list")}
    # it cannot ask for a role it does not hold
    assert_cli_refused(rita.openstack("application", "credential", "create", "--role", "member",
                                      "rita-up", check=False),
                       "403", "Forbidden", "400", "role")
    rita.openstack("application", "credential", "delete", "rita-ac")
    assert_cli_refused(rita.openstack("project", "create", "--domain", "default", "rita-proj", check=False))
