"""Isolation and personas: a member of A never sees B; readers never write; users manage only themselves."""
from __future__ import annotations

import pytest


@pytest.fixture
def two_projects(env):
    a, b = env.project("A"), env.project("B")
    ua = env.user("ua", project_id=a)
    ub = env.user("ub", project_id=b)
    ra = env.user("ra", project_id=a, role="reader")
    return {"a": a, "b": b, "ua": ua, "ub": ub, "ra": ra,
            "ta": env.token("ua", "User-Pass-1", "A"), "tr": env.token("ra", "User-Pass-1", "A")}


def test_member_of_a_cannot_see_b(env, kerr, two_projects):
    t = two_projects
    with env.unchanged():
        kerr(env.req("GET", f"/v3/projects/{t['b']}", t["ta"]), 403)
        kerr(env.req("GET", "/v3/projects", t["ta"]), 403)
        kerr(env.req("GET", "/v3/users", t["ta"]), 403)
        kerr(env.req("GET", f"/v3/users/{t['ub']}", t["ta"]), 403)
        kerr(env.req("GET", f"/v3/users/{t['ub']}/projects", t["ta"]), 403)
        kerr(env.req("GET", f"/v3/role_assignments?scope.project.id={t['b']}", t["ta"]), 403)
        kerr(env.req("GET", f"/v3/users/{t['ub']}/application_credentials", t["ta"]), 403)
        kerr(env.req("GET", f"/v3/users/{t['ub']}/groups", t["ta"]), 403)
        kerr(env.req("DELETE", f"/v3/users/{t['ub']}", t["ta"]), 403)
        kerr(env.req("POST", f"/v3/users/{t['ub']}/password", t["ta"],
                     json={"user": {"original_password": "User-Pass-1", "password": "x"}}), 403)
        kerr(env.req("POST", "/v3/auth/tokens", json=env.auth_body("ua", "User-Pass-1", "B")), 401)
    # but sees itself and its own project
    assert env.ok("GET", f"/v3/projects/{t['a']}", t["ta"])["project"]["name"] == "A"
    assert env.ok("GET", f"/v3/users/{t['ua']}", t["ta"])["user"]["name"] == "ua"
    assert [p["name"] for p in env.ok("GET", f"/v3/users/{t['ua']}/projects", t["ta"])["projects"]] == ["A"]
    assert [p["name"] for p in env.ok("GET", "/v3/auth/projects", t["ta"])["projects"]] == ["A"]
    own = env.ok("GET", f"/v3/role_assignments?user.id={t['ua']}", t["ta"])["role_assignments"]
    assert {a["scope"]["project"]["id"] for a in own} == {t["a"]}


def test_non_admins_never_write_shared_resources(env, kerr, two_projects):
    t = two_projects
    member = env.role_id("member")
    with env.unchanged():
        for tok in (t["ta"], t["tr"]):
            kerr(env.req("POST", "/v3/projects", tok, json={"project": {"name": "x"}}), 403)
            kerr(env.req("PATCH", f"/v3/projects/{t['a']}", tok, json={"project": {"name": "x"}}), 403)
            kerr(env.req("DELETE", f"/v3/projects/{t['a']}", tok), 403)
            kerr(env.req("POST", "/v3/users", tok, json={"user": {"name": "x"}}), 403)
            kerr(env.req("PATCH", f"/v3/users/{t['ua']}", tok, json={"user": {"enabled": False}}), 403)
            kerr(env.req("PUT", f"/v3/projects/{t['a']}/users/{t['ua']}/roles/{member}", tok), 403)
            kerr(env.req("DELETE", f"/v3/projects/{t['a']}/users/{t['ra']}/roles/{env.role_id('reader')}",
                         tok), 403)
            kerr(env.req("POST", "/v3/roles", tok, json={"role": {"name": "x"}}), 403)
            kerr(env.req("POST", "/v3/domains", tok, json={"domain": {"name": "x"}}), 403)
            kerr(env.req("POST", "/v3/groups", tok, json={"group": {"name": "x"}}), 403)
            kerr(env.req("POST", "/v3/services", tok, json={"service": {"type": "x"}}), 403)
            kerr(env.req("POST", "/v3/regions", tok, json={"region": {"id": "x"}}), 403)
            kerr(env.req("GET", "/v3/domains", tok), 403)
        kerr(env.req("POST", f"/v3/users/{t['ub']}/credentials/OS-EC2", t["ta"], json={"tenant_id": t["a"]}), 403)
        kerr(env.req("POST", f"/v3/users/{t['ub']}/application_credentials", t["ta"],
                     json={"application_credential": {"name": "x"}}), 403)


def test_reader_gets_only_reader_roles(env, two_projects):
    tok = env.req("POST", "/v3/auth/tokens", json=env.auth_body("ra", "User-Pass-1", "A")).get_json()["token"]
    assert [r["name"] for r in tok["roles"]] == ["reader"]


def test_users_read_own_domain_and_regions_but_only_operators_roles_and_catalog(env, two_projects, kerr):
    t = two_projects
    assert env.ok("GET", "/v3/domains/default", t["ta"])["domain"]["name"] == "Default"
    assert env.ok("GET", "/v3/regions", t["ta"])["regions"]
    # Keystone: roles, services and endpoints are read by operators (a user has the catalog in its token)
    with env.unchanged():
        for path in ("/v3/roles", f"/v3/roles/{env.role_id('member')}", "/v3/services", "/v3/endpoints",
                     "/v3/role_inferences"):
            kerr(env.req("GET", path, t["ta"]), 403)
    assert env.ok("GET", "/v3/roles")["roles"] and env.ok("GET", "/v3/services")["services"]


def test_domain_admin_is_not_cloud_admin(env, kerr):
    uid = env.user("dadmin")
    env.ok("PUT", f"/v3/domains/default/users/{uid}/roles/{env.role_id('admin')}")
    tok = env.token("dadmin", "User-Pass-1", project=None, domain="default")
    with env.unchanged():
        kerr(env.req("GET", "/v3/users", tok), 403)
        kerr(env.req("POST", "/v3/projects", tok, json={"project": {"name": "x"}}), 403)
        kerr(env.req("POST", "/v3/domains", tok, json={"domain": {"name": "x"}}), 403)
    assert env.ok("GET", f"/v3/users/{uid}", tok)["user"]["name"] == "dadmin"
    system = env.token(project=None, system=True)  # a system-scoped admin token is a cloud admin
    assert env.ok("GET", "/v3/users", system)["users"]
