"""Endpoints the other modules leave out: region/endpoint updates, system group grants, OS-EC2 show, metrics."""
from __future__ import annotations

from appliance.app import make_app


def test_region_put_patch(env, kerr):
    made = env.ok("PUT", "/v3/regions/Edge1", json={"region": {"description": "edge"}}, status=201)["region"]
    assert made["id"] == "Edge1" and made["description"] == "edge"
    assert env.ok("PATCH", "/v3/regions/Edge1", json={"region": {"description": "x"}})["region"]["description"] == "x"
    with env.unchanged():
        kerr(env.req("PATCH", "/v3/regions/Edge1", env.admin, json={"region": {"description": 5}}), 400,
             "region/description")
        kerr(env.req("PUT", "/v3/regions/Edge1", env.admin, json={"region": {}}), 409)
    assert {r["id"] for r in env.ok("GET", "/v3/regions")["regions"]} == {"RegionOne", "Edge1"}


def test_endpoint_patch(env, kerr):
    sid = env.ok("POST", "/v3/services", json={"service": {"type": "patched-type"}})["service"]["id"]
    eid = env.ok("POST", "/v3/endpoints", json={"endpoint": {"service_id": sid, "interface": "public",
                                                             "url": "http://a:9292"}})["endpoint"]["id"]
    patched = env.ok("PATCH", f"/v3/endpoints/{eid}", json={"endpoint": {"url": "http://b:9292",
                                                                         "enabled": False}})["endpoint"]
    assert patched["url"] == "http://b:9292" and patched["enabled"] is False
    cat = env.req("POST", "/v3/auth/tokens", json=env.auth_body()).get_json()["token"]["catalog"]
    assert not [s for s in cat if s["type"] == "patched-type"]  # disabled endpoints leave the catalog
    with env.unchanged():
        kerr(env.req("PATCH", f"/v3/endpoints/{eid}", env.admin, json={"endpoint": {"service_id": "nope"}}), 404)
        kerr(env.req("PATCH", f"/v3/endpoints/{eid}", env.admin, json={"endpoint": {"interface": "x"}}), 400,
             "endpoint/interface")
        kerr(env.req("PATCH", f"/v3/endpoints/{eid}", env.admin, json={"endpoint": {"region_id": "Nowhere"}}),
             400, "region_id")


def test_system_and_domain_group_grant_lists(env, kerr):
    gid = env.ok("POST", "/v3/groups", json={"group": {"name": "ops"}})["group"]["id"]
    reader = env.role_id("reader")
    env.ok("PUT", f"/v3/system/groups/{gid}/roles/{reader}")
    assert [r["name"] for r in env.ok("GET", f"/v3/system/groups/{gid}/roles")["roles"]] == ["reader"]
    assert env.req("HEAD", f"/v3/system/groups/{gid}/roles/{reader}", env.admin).status_code == 204
    env.ok("PUT", f"/v3/domains/default/groups/{gid}/roles/{reader}")
    assert [r["name"] for r in env.ok("GET", f"/v3/domains/default/groups/{gid}/roles")["roles"]] == ["reader"]
    env.ok("DELETE", f"/v3/system/groups/{gid}/roles/{reader}")
    kerr(env.req("GET", f"/v3/system/groups/{gid}/roles/{reader}", env.admin), 404)
    env.ok("DELETE", f"/v3/groups/{gid}")
    assert env.ok("GET", f"/v3/role_assignments?group.id={gid}")["role_assignments"] == []


def test_domain_role_removal_revokes_elsewhere(env):
    other = make_app("network", env.settings, error_format="neutron")

    @other.get("/v2.0/ping")
    def ping():
        return {"ok": True}
    client = other.test_client()
    uid = env.user("du")
    reader = env.role_id("reader")
    env.ok("PUT", f"/v3/domains/default/users/{uid}/roles/{reader}")
    tok = env.token("du", "User-Pass-1", project=None, domain="default")
    assert client.get("/v2.0/ping", headers={"X-Auth-Token": tok}).status_code == 200
    env.ok("DELETE", f"/v3/domains/default/users/{uid}/roles/{reader}")
    resp = client.get("/v2.0/ping", headers={"X-Auth-Token": tok})
    assert resp.status_code == 401 and resp.get_json()["NeutronError"]["type"] == "Unauthorized"


def test_os_ec2_show(env, kerr):
    uid = env.ok("GET", "/v3/users?name=admin")["users"][0]["id"]
    pid = env.ok("GET", "/v3/projects?name=admin")["projects"][0]["id"]
    made = env.ok("POST", f"/v3/users/{uid}/credentials/OS-EC2", json={"tenant_id": pid})["credential"]
    got = env.ok("GET", f"/v3/users/{uid}/credentials/OS-EC2/{made['access']}")["credential"]
    assert got["secret"] == made["secret"] and got["tenant_id"] == pid
    kerr(env.req("GET", f"/v3/users/{uid}/credentials/OS-EC2/unknown", env.admin), 404)


def test_healthz_and_metrics(env):
    assert env.req("GET", "/healthz").get_json()["checks"] == {"database": "ok"}
    env.user("counted")
    text = env.req("GET", "/metrics").get_data(as_text=True)
    users = [line for line in text.splitlines() if line.startswith("egret_identity_users ")]
    assert users and float(users[0].split()[1]) >= 2


def test_role_inferences_lists_bootstrap_chain(env):
    pairs = {(i["prior_role"]["name"], r["name"]) for i in env.ok("GET", "/v3/role_inferences")["role_inferences"]
             for r in i["implies"]}
    assert pairs == {("admin", "member"), ("member", "reader")}


def test_project_extra_properties_and_tag_filters(env):
    made = env.ok("POST", "/v3/projects", json={"project": {"name": "px", "tags": ["edge", "gpu"],
                                                            "cost_center": "42"}})["project"]
    assert made["cost_center"] == "42"
    env.ok("PATCH", f"/v3/projects/{made['id']}", json={"project": {"owner": "ops"}})
    got = env.ok("GET", f"/v3/projects/{made['id']}")["project"]
    assert got["cost_center"] == "42" and got["owner"] == "ops"
    env.ok("POST", "/v3/projects", json={"project": {"name": "py", "tags": ["edge"]}})
    names = lambda q: {p["name"] for p in env.ok("GET", f"/v3/projects?{q}")["projects"]}  # noqa: E731
    assert names("tags=edge,gpu") == {"px"}
    assert names("tags-any=gpu,edge") == {"px", "py"}
    assert names("not-tags-any=gpu") >= {"py", "admin"} and "px" not in names("not-tags-any=gpu")
