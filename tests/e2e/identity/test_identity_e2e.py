"""The real `egret up` driven by the unmodified openstack CLI and openstacksdk: workflows, isolation, revocation."""
from __future__ import annotations

import json
import os
import time

import keystoneauth1.exceptions
import openstack
import pytest
import requests

from appliance.testing.cloud import RunningCloud

pytestmark = pytest.mark.e2e


def _sdk(cloud, **overrides):
    auth = {**cloud.auth, **overrides}
    return openstack.connect(**auth, region_name="RegionOne")


def _user_auth(cloud, name, password, project):
    return {"auth_url": cloud.url("identity", "/v3"), "username": name, "password": password,
            "project_name": project, "user_domain_name": "Default", "project_domain_name": "Default"}


def test_cli_workflows(cloud):
    tok = cloud.openstack_json("token", "issue")
    assert tok["id"] and tok["project_id"] and tok["user_id"] and tok["expires"]
    catalog = cloud.openstack_json("catalog", "list")
    identity = [s for s in catalog if s["Type"] == "identity"][0]
    assert cloud.url("identity", "/v3/") in json.dumps(identity["Endpoints"])
    project = cloud.openstack_json("project", "create", "--domain", "default", "--description", "cli", "cli-proj")
    assert project["name"] == "cli-proj" and project["domain_id"] == "default"
    assert "cli-proj" in {p["Name"] for p in cloud.openstack_json("project", "list")}
    user = cloud.openstack_json("user", "create", "--domain", "default", "--password", "Cli-Pass-1",
                                "--project", "cli-proj", "cli-user")
    assert user["default_project_id"] == project["id"]
    assert "cli-user" in {u["Name"] for u in cloud.openstack_json("user", "list")}
    cloud.openstack("role", "add", "--project", "cli-proj", "--user", "cli-user", "member")
    rows = cloud.openstack_json("role", "assignment", "list", "--project", "cli-proj", "--names")
    assert [(r["Role"], r["User"], r["Project"]) for r in rows] == [("member", "cli-user@Default",
                                                                      "cli-proj@Default")]
    cloud.openstack("role", "remove", "--project", "cli-proj", "--user", "cli-user", "member")
    assert cloud.openstack_json("role", "assignment", "list", "--project", "cli-proj", "--names") == []
    cloud.openstack("user", "delete", "cli-user")
    cloud.openstack("project", "delete", "cli-proj")
    assert "cli-proj" not in {p["Name"] for p in cloud.openstack_json("project", "list")}


def test_cli_application_credential_then_sdk_auth(cloud):
    made = cloud.openstack_json("application", "credential", "create", "--role", "reader", "cli-ac")
    assert made["Secret"] and made["ID"]
    conn = openstack.connect(auth_type="v3applicationcredential", region_name="RegionOne",
                             auth={"auth_url": cloud.url("identity", "/v3"),
                                   "application_credential_id": made["ID"],
                                   "application_credential_secret": made["Secret"]})
    token = conn.session.get_token()
    info = requests.get(cloud.url("identity", "/v3/auth/tokens"),
                        headers={"X-Auth-Token": token, "X-Subject-Token": token}).json()["token"]
    assert [r["name"] for r in info["roles"]] == ["reader"]
    assert info["application_credential"]["id"] == made["ID"]
    assert [p.name for p in conn.identity.user_projects(info["user"]["id"])] == ["admin"]


def test_cli_ec2_credentials(cloud):
    made = cloud.openstack_json("ec2", "credentials", "create")
    listed = cloud.openstack_json("ec2", "credentials", "list")
    assert made["access"] in {c["Access"] for c in listed}
    # the id the storage service looks an S3 access key up by
    import hashlib
    conn = _sdk(cloud)
    cred = conn.identity.get_credential(hashlib.sha256(made["access"].encode()).hexdigest())
    assert cred.type == "ec2" and json.loads(cred.blob)["secret"] == made["secret"]
    cloud.openstack("ec2", "credentials", "delete", made["access"])
    assert made["access"] not in {c["Access"] for c in cloud.openstack_json("ec2", "credentials", "list")}


def test_sdk_workflows(cloud):
    conn = _sdk(cloud)
    access = conn.session.auth.get_access(conn.session)
    assert access.project_name == "admin" and "admin" in access.role_names
    assert access.service_catalog.url_for(service_type="identity", interface="public") == \
        cloud.url("identity", "/v3/")
    project = conn.identity.create_project(name="sdk-proj", domain_id="default")
    user = conn.identity.create_user(name="sdk-user", password="Sdk-Pass-1", domain_id="default",
                                     default_project_id=project.id)
    member = conn.identity.find_role("member")
    conn.identity.assign_project_role_to_user(project, user, member)
    assert conn.identity.validate_user_has_project_role(project, user, member)
    assigned = list(conn.identity.role_assignments(scope_project_id=project.id, include_names=True))
    assert [(a.role["name"], a.user["name"]) for a in assigned] == [("member", "sdk-user")]
    user_conn = openstack.connect(**_user_auth(cloud, "sdk-user", "Sdk-Pass-1", "sdk-proj"), region_name="RegionOne")
    ac = user_conn.identity.create_application_credential(user=user.id, name="sdk-ac")
    ac_conn = openstack.connect(auth_type="v3applicationcredential", region_name="RegionOne",
                                auth={"auth_url": cloud.url("identity", "/v3"),
                                      "application_credential_id": ac.id,
                                      "application_credential_secret": ac.secret})
    assert ac_conn.identity.get_user(user.id).name == "sdk-user"
    # openstacksdk has no EC2 proxy; its identity adapter speaks to the same endpoint the CLI uses
    ec2 = user_conn.identity.post(f"/users/{user.id}/credentials/OS-EC2", json={"tenant_id": project.id})
    assert ec2.status_code == 201
    access = ec2.json()["credential"]["access"]
    listed = user_conn.identity.get(f"/users/{user.id}/credentials/OS-EC2").json()["credentials"]
    assert [c["access"] for c in listed] == [access]
    assert user_conn.identity.delete(f"/users/{user.id}/credentials/OS-EC2/{access}").status_code == 204
    conn.identity.unassign_project_role_from_user(project, user, member)
    conn.identity.delete_user(user)
    conn.identity.delete_project(project)
    assert conn.identity.find_project("sdk-proj") is None


@pytest.fixture(scope="module")
def two_tenants(cloud):
    conn = _sdk(cloud)
    member = conn.identity.find_role("member")
    out = {}
    for tag in ("a", "b"):
        project = conn.identity.create_project(name=f"iso-{tag}", domain_id="default")
        user = conn.identity.create_user(name=f"iso-{tag}", password="Iso-Pass-1", domain_id="default")
        conn.identity.assign_project_role_to_user(project, user, member)
        out[tag] = (project, user)
    return out


def test_isolation_member_of_a_cannot_see_b(cloud, two_tenants):
    (_, ua), (pb, ub) = two_tenants["a"], two_tenants["b"]
    conn_a = openstack.connect(**_user_auth(cloud, "iso-a", "Iso-Pass-1", "iso-a"), region_name="RegionOne")
    with pytest.raises(openstack.exceptions.ForbiddenException):
        list(conn_a.identity.projects())
    with pytest.raises(openstack.exceptions.ForbiddenException):
        list(conn_a.identity.users())
    with pytest.raises(openstack.exceptions.ForbiddenException):
        conn_a.identity.get_project(pb.id)
    with pytest.raises(openstack.exceptions.ForbiddenException):
        conn_a.identity.get_user(ub.id)
    assert [p.name for p in conn_a.identity.user_projects(ua.id)] == ["iso-a"]
    # and the unmodified CLI, as user A, is refused the user list
    env = {"--os-username": "iso-a", "--os-password": "Iso-Pass-1", "--os-project-name": "iso-a"}
    args = [x for kv in env.items() for x in kv]
    proc = cloud.openstack(*args, "user", "list", check=False)
    assert proc.returncode != 0 and "403" in proc.stderr


def _token_status(cloud, token, user_id):
    return requests.get(cloud.url("identity", f"/v3/users/{user_id}"), headers={"X-Auth-Token": token}).status_code


def _fresh_token(cloud, name, password, project):
    conn = openstack.connect(**_user_auth(cloud, name, password, project), region_name="RegionOne")
    return conn.session.get_token()


def test_revocation_is_immediate(cloud, two_tenants):
    admin = _sdk(cloud)
    (pa, ua) = two_tenants["a"]
    member = admin.identity.find_role("member")
    # role removed
    tok = _fresh_token(cloud, "iso-a", "Iso-Pass-1", "iso-a")
    assert _token_status(cloud, tok, ua.id) == 200
    admin.identity.unassign_project_role_from_user(pa, ua, member)
    assert _token_status(cloud, tok, ua.id) == 401
    admin.identity.assign_project_role_to_user(pa, ua, member)
    # password changed by the user
    tok = _fresh_token(cloud, "iso-a", "Iso-Pass-1", "iso-a")
    resp = requests.post(cloud.url("identity", f"/v3/users/{ua.id}/password"), headers={"X-Auth-Token": tok},
                         json={"user": {"original_password": "Iso-Pass-1", "password": "Iso-Pass-2"}})
    assert resp.status_code == 204
    assert _token_status(cloud, tok, ua.id) == 401
    # user disabled
    tok = _fresh_token(cloud, "iso-a", "Iso-Pass-2", "iso-a")
    admin.identity.update_user(ua, enabled=False)
    assert _token_status(cloud, tok, ua.id) == 401
    with pytest.raises(keystoneauth1.exceptions.Unauthorized):
        _fresh_token(cloud, "iso-a", "Iso-Pass-2", "iso-a")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            kids = [int(x) for x in fh.read().split()]
    except FileNotFoundError:
        return []
    return kids + [g for k in kids for g in _children(k)]


def test_ctrl_c_stops_cleanly(tmp_path):
    cloud = RunningCloud(tmp_path / "state", services=["identity"]).start()
    try:
        pids = _children(cloud.process.pid)
        assert pids, "egret up has no children"
        assert _sdk(cloud).identity.find_project("admin") is not None
    finally:
        code = cloud.stop()
    assert code == 0
    assert "Stopped." in cloud.output_path.read_text()
    deadline = time.time() + 5
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
        time.sleep(0.1)
    assert [p for p in pids if os.path.exists(f"/proc/{p}")] == []


def test_oversize_bodies_rejected_by_the_real_server(cloud):
    import http.client
    big = b'{"auth": "' + b"x" * (1024 * 1024 + 65536) + b'"}'
    for chunked in (False, True):
        conn = http.client.HTTPConnection("127.0.0.1", cloud.ports["identity"], timeout=30)
        headers = {"Content-Type": "application/json"}
        body = iter([big[i:i + 65536] for i in range(0, len(big), 65536)]) if chunked else big
        # the server drains a moderately oversized body, so the client always gets to read the 413
        conn.request("POST", "/v3/auth/tokens", body=body, headers=headers, encode_chunked=chunked)
        resp = conn.getresponse()
        assert resp.status == 413, (chunked, resp.status)
        assert json.loads(resp.read())["error"]["code"] == 413
        conn.close()
    # the server is still healthy afterwards
    assert requests.get(cloud.url("identity", "/v3")).status_code == 200
