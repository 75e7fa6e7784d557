"""Role grants on projects, domains and system; implied roles; /v3/role_assignments filters and names."""
from __future__ import annotations


def _setup(env):
    pid = env.project("p1")
    uid = env.user("u1")
    gid = env.ok("POST", "/v3/groups", json={"group": {"name": "g1"}})["group"]["id"]
    env.ok("PUT", f"/v3/groups/{gid}/users/{uid}")
    return pid, uid, gid


def test_project_grant_check_list_revoke(env, kerr):
    pid, uid, _ = _setup(env)
    member = env.role_id("member")
    path = f"/v3/projects/{pid}/users/{uid}/roles/{member}"
    kerr(env.req("GET", path, env.admin), 404, "role assignment")
    env.ok("PUT", path)
    env.ok("PUT", path)  # idempotent
    assert env.req("HEAD", path, env.admin).status_code == 204
    assert env.req("GET", path, env.admin).status_code == 204
    assert [r["name"] for r in env.ok("GET", f"/v3/projects/{pid}/users/{uid}/roles")["roles"]] == ["member"]
    env.ok("DELETE", path)
    with env.unchanged():
        kerr(env.req("DELETE", path, env.admin), 404)


def test_grant_unknown_refs_change_nothing(env, kerr):
    pid, uid, gid = _setup(env)
    member = env.role_id("member")
    with env.unchanged():
        kerr(env.req("PUT", f"/v3/projects/nope/users/{uid}/roles/{member}", env.admin), 404, "nope")
        kerr(env.req("PUT", f"/v3/projects/{pid}/users/nope/roles/{member}", env.admin), 404, "nope")
        kerr(env.req("PUT", f"/v3/projects/{pid}/users/{uid}/roles/nope", env.admin), 404, "nope")
        kerr(env.req("PUT", f"/v3/domains/nope/groups/{gid}/roles/{member}", env.admin), 404, "nope")
        kerr(env.req("PUT", f"/v3/system/users/nope/roles/{member}", env.admin), 404, "nope")


def test_domain_group_and_system_grants(env):
    pid, uid, gid = _setup(env)
    reader = env.role_id("reader")
    env.ok("PUT", f"/v3/domains/default/groups/{gid}/roles/{reader}")
    assert env.req("HEAD", f"/v3/domains/default/groups/{gid}/roles/{reader}", env.admin).status_code == 204
    env.ok("PUT", f"/v3/system/users/{uid}/roles/{reader}")
    assert [r["name"] for r in env.ok("GET", f"/v3/system/users/{uid}/roles")["roles"]] == ["reader"]
    tok = env.token("u1", "User-Pass-1", project=None, system=True)
    assert env.req("GET", "/v3/auth/system", tok).get_json()["system"] == [{"all": True}]
    tok = env.token("u1", "User-Pass-1", project=None, domain="default")  # through the group
    assert env.ok("GET", "/v3/auth/domains", tok)["domains"][0]["id"] == "default"
    env.ok("DELETE", f"/v3/system/users/{uid}/roles/{reader}")
    assert env.ok("GET", f"/v3/system/users/{uid}/roles")["roles"] == []


def test_role_assignments_filters_effective_and_names(env, kerr):
    pid, uid, gid = _setup(env)
    member = env.role_id("member")
    env.ok("PUT", f"/v3/projects/{pid}/groups/{gid}/roles/{member}")
    direct = env.ok("GET", f"/v3/role_assignments?scope.project.id={pid}")["role_assignments"]
    assert len(direct) == 1 and direct[0]["group"] == {"id": gid} and direct[0]["role"] == {"id": member}
    assert direct[0]["scope"] == {"project": {"id": pid}}
    assert direct[0]["links"]["assignment"].endswith(f"/v3/projects/{pid}/groups/{gid}/roles/{member}")
    eff = env.ok("GET", f"/v3/role_assignments?scope.project.id={pid}&effective")["role_assignments"]
    # the group's member gets member and, by implication, reader
    assert {(a["user"]["id"], a["role"]["id"]) for a in eff} == {(uid, member), (uid, env.role_id("reader"))}
    assert all("membership" in a["links"] for a in eff)
    named = env.ok("GET", f"/v3/role_assignments?user.id={uid}&effective&include_names=True")
    names = {(a["user"]["name"], a["role"]["name"], a["scope"]["project"]["name"])
             for a in named["role_assignments"]}
    assert names == {("u1", "member", "p1"), ("u1", "reader", "p1")}
    assert named["role_assignments"][0]["user"]["domain"] == {"id": "default", "name": "Default"}
    by_role = env.ok("GET", f"/v3/role_assignments?role.id={member}&scope.project.id={pid}")["role_assignments"]
    assert len(by_role) == 1
    system = env.ok("GET", "/v3/role_assignments?scope.system=all&include_names=1")["role_assignments"]
    assert [(a["user"]["name"], a["scope"]) for a in system] == [("admin", {"system": {"all": True}})]
    with env.unchanged():
        kerr(env.req("GET", f"/v3/role_assignments?group.id={gid}&effective", env.admin), 400, "group.id")


def test_implied_roles(env, kerr):
    r1 = env.ok("POST", "/v3/roles", json={"role": {"name": "boss"}})["role"]["id"]
    member = env.role_id("member")
    resp = env.ok("PUT", f"/v3/roles/{r1}/implies/{member}", status=201)
    assert resp["role_inference"]["implies"]["id"] == member
    assert env.req("HEAD", f"/v3/roles/{r1}/implies/{member}", env.admin).status_code == 204
    listed = env.ok("GET", f"/v3/roles/{r1}/implies")["role_inference"]
    assert [r["name"] for r in listed["implies"]] == ["member"]
    with env.unchanged():
        kerr(env.req("PUT", f"/v3/roles/{env.role_id('reader')}/implies/{r1}", env.admin), 400, "cycle")
    pid = env.project("p1")
    env.user("u1", project_id=pid, role="boss")
    tok = env.req("POST", "/v3/auth/tokens", json=env.auth_body("u1", "User-Pass-1", "p1")).get_json()["token"]
    assert {r["name"] for r in tok["roles"]} == {"boss", "member", "reader"}
    env.ok("DELETE", f"/v3/roles/{r1}/implies/{member}")
    kerr(env.req("DELETE", f"/v3/roles/{r1}/implies/{member}", env.admin), 404)


def test_deleting_a_role_removes_its_assignments(env):
    pid = env.project("p1")
    rid = env.ok("POST", "/v3/roles", json={"role": {"name": "temp"}})["role"]["id"]
    env.user("u1", project_id=pid, role="temp")
    env.ok("DELETE", f"/v3/roles/{rid}")
    assert env.ok("GET", f"/v3/role_assignments?role.id={rid}")["role_assignments"] == []
