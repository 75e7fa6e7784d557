"""CRUD of domains, projects, users, groups, roles, regions, services, endpoints: filters, links, bad input."""
from __future__ import annotations

import pytest

# (collection, body key, create body, update body, list filter that matches the created one)
RESOURCES = [
    ("domains", "domain", {"name": "d1", "description": "x"}, {"description": "y"}, "name=d1"),
    ("projects", "project", {"name": "p1", "domain_id": "default", "tags": ["a"]}, {"description": "y"},
     "name=p1&domain_id=default&enabled=true"),
    ("users", "user", {"name": "u1", "password": "User-Pass-1", "email": "u@x"}, {"email": "v@x"},
     "name=u1&domain_id=default&enabled=True"),
    ("groups", "group", {"name": "g1", "description": "x"}, {"description": "y"}, "name=g1&domain_id=default"),
    ("roles", "role", {"name": "r1"}, {"description": "y"}, "name=r1"),
    ("services", "service", {"type": "test-compute", "name": "nova"}, {"description": "y"}, "type=test-compute"),
]


@pytest.mark.parametrize("coll,key,create,update,flt", RESOURCES, ids=[r[0] for r in RESOURCES])
def test_crud_roundtrip(env, kerr, coll, key, create, update, flt):
    made = env.ok("POST", f"/v3/{coll}", json={key: create})[key]
    assert made["links"]["self"].endswith(f"/v3/{coll}/{made['id']}")
    for field, value in create.items():
        if field != "password":
            assert made[field] == value
    assert "password" not in made and "password_hash" not in made
    got = env.ok("GET", f"/v3/{coll}/{made['id']}")[key]
    assert got["id"] == made["id"]
    listed = env.ok("GET", f"/v3/{coll}?{flt}")
    assert [x["id"] for x in listed[coll]] == [made["id"]]
    assert listed["links"]["self"] and listed["links"]["next"] is None
    patched = env.ok("PATCH", f"/v3/{coll}/{made['id']}", json={key: update})[key]
    for field, value in update.items():
        assert patched[field] == value
    if coll == "domains":
        env.ok("PATCH", f"/v3/domains/{made['id']}", json={"domain": {"enabled": False}})
    env.ok("DELETE", f"/v3/{coll}/{made['id']}")
    kerr(env.req("GET", f"/v3/{coll}/{made['id']}", env.admin), 404, made["id"])


@pytest.mark.parametrize("coll,key,create", [(r[0], r[1], r[2]) for r in RESOURCES if r[0] != "services"],
                         ids=[r[0] for r in RESOURCES if r[0] != "services"])
def test_duplicate_names_conflict(env, kerr, coll, key, create):
    env.ok("POST", f"/v3/{coll}", json={key: create})
    with env.unchanged():
        kerr(env.req("POST", f"/v3/{coll}", env.admin, json={key: create}), 409, "Duplicate")


@pytest.mark.parametrize("coll", ["domains", "projects", "users", "groups", "roles", "services", "endpoints",
                                  "regions", "credentials"])
def test_unknown_ids_are_404(env, kerr, coll):
    with env.unchanged():
        kerr(env.req("GET", f"/v3/{coll}/nope", env.admin), 404, "nope")
        kerr(env.req("DELETE", f"/v3/{coll}/nope", env.admin), 404, "nope")
        if coll != "credentials":
            key = coll[:-1]
            kerr(env.req("PATCH", f"/v3/{coll}/nope", env.admin, json={key: {"description": "x"}}), 404, "nope")


BAD_BODIES = [
    ("projects", b"{oops", 400, "Malformed JSON"),
    ("projects", b"", 400, "empty"),
    ("projects", b'{"project": {}}', 400, "'project/name'"),
    ("projects", b'{"project": {"name": 5}}', 400, "project/name"),
    ("projects", b'{"project": {"name": "x", "enabled": "yes"}}', 400, "project/enabled"),
    ("projects", b'{"project": {"name": "x", "domain_id": "missing"}}', 400, "domain_id"),
    ("projects", b'{"project": {"name": ""}}', 400, "project/name"),
    ("projects", b'{"proj": {"name": "x"}}', 400, "'project'"),
    ("projects", b'{"project": {"name": "x", "parent_id": "missing"}}', 404, "missing"),
    ("users", b'{"user": {"name": ["a"]}}', 400, "user/name"),
    ("users", b'{"user": {"name": "x", "default_project_id": "missing"}}', 400, "default_project_id"),
    ("users", b'{"user": {"name": "x", "password": 12}}', 400, "user/password"),
    ("domains", b'{"domain": {"enabled": true}}', 400, "'domain/name'"),
    ("groups", b'{"group": {"name": null}}', 400, "group/name"),
    ("roles", b'{"role": {"name": "x", "domain_id": "missing"}}', 400, "domain_id"),
    ("services", b'{"service": {"name": "x"}}', 400, "'service/type'"),
    ("endpoints", b'{"endpoint": {"service_id": "s", "interface": "public"}}', 400, "'endpoint/url'"),
    ("endpoints", b'{"endpoint": {"service_id": "s", "interface": "sideways", "url": "http://x"}}', 400,
     "endpoint/interface"),
    ("endpoints", b'{"endpoint": {"service_id": "s", "interface": "public", "url": "not a url"}}', 400,
     "endpoint/url"),
    ("endpoints", b'{"endpoint": {"service_id": "missing", "interface": "public", "url": "http://x"}}', 404,
     "missing"),
    ("regions", b'{"region": {"parent_region_id": "missing"}}', 404, "missing"),
    ("regions", b'{"region": {"id": 7}}', 400, "region/id"),
    ("credentials", b'{"credential": {"user_id": "x", "type": "ec2"}}', 400, "'credential/blob'"),
]


@pytest.mark.parametrize("coll,raw,status,fragment", BAD_BODIES,
                         ids=[f"{c}-{i}" for i, (c, *_) in enumerate(BAD_BODIES)])
def test_bad_create_bodies(env, kerr, coll, raw, status, fragment):
    with env.unchanged():
        kerr(env.req("POST", f"/v3/{coll}", env.admin, data=raw), status, fragment)


def test_unknown_top_level_keys_are_ignored(env):
    made = env.ok("POST", "/v3/domains", json={"domain": {"name": "x"}, "extra": 1})
    assert made["domain"]["name"] == "x"


def test_bad_update_bodies_change_nothing(env, kerr):
    pid = env.project("p1")
    env.project("p2")
    uid = env.user("u1")
    with env.unchanged():
        kerr(env.req("PATCH", f"/v3/projects/{pid}", env.admin, json={"project": {"name": "p2"}}), 409)
        kerr(env.req("PATCH", f"/v3/projects/{pid}", env.admin, json={"project": {"enabled": 1}}), 400,
             "project/enabled")
        kerr(env.req("PATCH", f"/v3/projects/{pid}", env.admin, json={"project": {"domain_id": "other"}}), 400,
             "domain_id")
        kerr(env.req("PATCH", f"/v3/users/{uid}", env.admin, json={"user": {"name": "admin"}}), 409)
        kerr(env.req("PATCH", f"/v3/users/{uid}", env.admin, data=b"[1,2]"), 400)


def test_domain_must_be_disabled_before_delete_and_cascades(env, kerr):
    did = env.ok("POST", "/v3/domains", json={"domain": {"name": "d1"}})["domain"]["id"]
    env.ok("POST", "/v3/projects", json={"project": {"name": "p", "domain_id": did}})
    env.ok("POST", "/v3/users", json={"user": {"name": "u", "domain_id": did}})
    with env.unchanged():
        kerr(env.req("DELETE", f"/v3/domains/{did}", env.admin), 403, "disable")
    env.ok("PATCH", f"/v3/domains/{did}", json={"domain": {"enabled": False}})
    env.ok("DELETE", f"/v3/domains/{did}")
    assert env.ok("GET", f"/v3/projects?domain_id={did}")["projects"] == []
    assert env.ok("GET", f"/v3/users?domain_id={did}")["users"] == []


def test_project_hierarchy_filters(env, kerr):
    parent = env.project("parent")
    child = env.ok("POST", "/v3/projects", json={"project": {"name": "child", "parent_id": parent}})["project"]
    assert child["parent_id"] == parent and child["domain_id"] == "default"
    assert [p["id"] for p in env.ok("GET", f"/v3/projects?parent_id={parent}")["projects"]] == [child["id"]]
    with env.unchanged():
        kerr(env.req("DELETE", f"/v3/projects/{parent}", env.admin), 403, "child")
    env.ok("PATCH", f"/v3/projects/{child['id']}", json={"project": {"enabled": False}})
    assert [p["name"] for p in env.ok("GET", "/v3/projects?enabled=false")["projects"]] == ["child"]


def test_groups_membership(env, kerr):
    gid = env.ok("POST", "/v3/groups", json={"group": {"name": "g1"}})["group"]["id"]
    uid = env.user("u1")
    kerr(env.req("GET", f"/v3/groups/{gid}/users/{uid}", env.admin), 404, "not a member")
    assert env.req("HEAD", f"/v3/groups/{gid}/users/{uid}", env.admin).status_code == 404
    env.ok("PUT", f"/v3/groups/{gid}/users/{uid}")
    assert env.req("HEAD", f"/v3/groups/{gid}/users/{uid}", env.admin).status_code == 204
    assert [u["id"] for u in env.ok("GET", f"/v3/groups/{gid}/users")["users"]] == [uid]
    assert [g["id"] for g in env.ok("GET", f"/v3/users/{uid}/groups")["groups"]] == [gid]
    with env.unchanged():
        kerr(env.req("PUT", f"/v3/groups/{gid}/users/nope", env.admin), 404, "nope")
        kerr(env.req("PUT", f"/v3/groups/nope/users/{uid}", env.admin), 404, "nope")
    env.ok("DELETE", f"/v3/groups/{gid}/users/{uid}")
    with env.unchanged():
        kerr(env.req("DELETE", f"/v3/groups/{gid}/users/{uid}", env.admin), 404)


def test_own_password_change(env, kerr):
    pid = env.project("p1")
    uid = env.user("u1", project_id=pid)
    tok = env.token("u1", "User-Pass-1", "p1")
    with env.unchanged():
        kerr(env.req("POST", f"/v3/users/{uid}/password", tok,
                     json={"user": {"original_password": "wrong", "password": "New-Pass-1"}}), 401)
        kerr(env.req("POST", f"/v3/users/{uid}/password", tok, json={"user": {"password": "New-Pass-1"}}), 400,
             "original_password")
        admin_id = env.ok("GET", "/v3/users?name=admin")["users"][0]["id"]
        kerr(env.req("POST", f"/v3/users/{admin_id}/password", tok,
                     json={"user": {"original_password": "User-Pass-1", "password": "x"}}), 403)
    env.ok("POST", f"/v3/users/{uid}/password", tok,
           json={"user": {"original_password": "User-Pass-1", "password": "New-Pass-1"}}, status=204)
    assert env.req("POST", "/v3/auth/tokens", json=env.auth_body("u1", "User-Pass-1", "p1")).status_code == 401
    assert env.token("u1", "New-Pass-1", "p1")


def test_passwords_are_scrypt_hashed_at_rest(env):
    from services.identity import models
    uid = env.user("u1", password="Secret-Value-9")
    models.database.connect(reuse_if_open=True)
    stored = models.User.get_by_id(uid).password_hash
    models.database.close()
    assert stored.startswith(f"scrypt${env.settings.password_hash_log2n}$8$1$")
    assert "Secret-Value-9" not in stored


def test_regions_services_endpoints(env, kerr):
    env.ok("POST", "/v3/regions", json={"region": {"id": "RegionTwo", "description": "x"}})
    kerr(env.req("POST", "/v3/regions", env.admin, json={"region": {"id": "RegionTwo"}}), 409)
    sid = env.ok("POST", "/v3/services", json={"service": {"type": "test-network", "name": "neutron"}})["service"]["id"]
    ep = env.ok("POST", "/v3/endpoints", json={"endpoint": {"service_id": sid, "interface": "internal",
                                                            "url": "http://h:9696", "region_id": "RegionTwo"}})
    ep = ep["endpoint"]
    assert ep["region"] == "RegionTwo"
    found = env.ok("GET", f"/v3/endpoints?service_id={sid}&interface=internal")["endpoints"]
    assert [e["id"] for e in found] == [ep["id"]]
    with env.unchanged():
        kerr(env.req("DELETE", "/v3/regions/RegionTwo", env.admin), 403, "endpoints")
    env.ok("DELETE", f"/v3/services/{sid}")
    kerr(env.req("GET", f"/v3/endpoints/{ep['id']}", env.admin), 404)
    env.ok("DELETE", "/v3/regions/RegionTwo")


def test_method_not_allowed_and_unknown_path(env, kerr):
    kerr(env.req("PUT", "/v3/projects", env.admin, json={}), 405)
    kerr(env.req("GET", "/v3/nothing-here", env.admin), 404)


FUZZ_VALUES = [[], 7, None, {"nested": {"deep": 1}}, ["a", 1], True]
WRITE_PATHS = [("POST", "/v3/domains", "domain"), ("POST", "/v3/projects", "project"), ("POST", "/v3/users", "user"),
               ("POST", "/v3/groups", "group"), ("POST", "/v3/roles", "role"),
               ("POST", "/v3/services", "service"), ("POST", "/v3/endpoints", "endpoint"),
               ("POST", "/v3/credentials", "credential")]


def test_fuzzed_bodies_never_crash_or_write(env, kerr):
    pid = env.project("fz")
    uid = env.user("fz-user")
    targets = WRITE_PATHS + [("PATCH", f"/v3/projects/{pid}", "project"), ("PATCH", f"/v3/users/{uid}", "user"),
                             ("PATCH", "/v3/domains/default", "domain"),
                             ("POST", f"/v3/users/{uid}/password", "user"),
                             ("POST", f"/v3/users/{uid}/application_credentials", "application_credential"),
                             ("POST", f"/v3/users/{uid}/credentials/OS-EC2", "tenant_id")]
    with env.unchanged():
        for method, path, key in targets:
            for value in FUZZ_VALUES:
                bodies = [value]
                if not (method == "PATCH" and isinstance(value, dict)):  # that one is a valid, empty patch
                    bodies.append({key: value})
                if value is not None:  # every field may be null in some bodies (a region's id, say)
                    bodies.append({key: {"name": value, "id": value, "domain_id": value, "type": value,
                                         "enabled": value}})
                for body in bodies:
                    resp = env.req(method, path, env.admin, json=body)
                    assert resp.status_code in (400, 403, 404), (method, path, body, resp.status_code,
                                                                 resp.get_data(as_text=True))
                    kerr(resp, resp.status_code)
