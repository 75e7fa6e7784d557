"""Flavors, keypairs, admin views."""
import pytest

from services.compute import scheduler
from services.compute.models import Flavor, database

PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHGfL1R4Q2j1S4wT3RZ2b0zWvVw0W1V8m5pT0XqmS3ep test@egret"


def test_flavor_listing_and_is_public_none(env):
    env.admin.post("/v2.1/flavors", json={"flavor": {"name": "private", "ram": 64, "vcpus": 1, "disk": 0,
                                                     "id": "priv", "os-flavor-access:is_public": False}})
    public = {f["name"] for f in env.api.get("/v2.1/flavors/detail").json["flavors"]}
    assert "m1.nano" in public and "private" not in public
    every = {f["name"] for f in env.admin.get("/v2.1/flavors/detail?is_public=None").json["flavors"]}
    assert "private" in every
    assert "private" not in {f["name"] for f in env.api.get("/v2.1/flavors/detail?is_public=None").json["flavors"]}
    env.admin.post("/v2.1/flavors/priv/action", json={"addTenantAccess": {"tenant": "p-test"}})
    assert "private" in {f["name"] for f in env.api.get("/v2.1/flavors/detail?is_public=None").json["flavors"]}
    f = env.api.get("/v2.1/flavors/6").json["flavor"]
    assert f["extra_specs"] == {} and f["os-flavor-access:is_public"] is True
    assert "extra_specs" not in env.api.get("/v2.1/flavors/6", version="2.60").json["flavor"]


@pytest.mark.parametrize("body,needle", [
    ({"name": "x", "ram": "lots", "vcpus": 1, "disk": 0}, "flavor/ram"),
    ({"name": "x", "ram": 64, "vcpus": 0, "disk": 0}, "flavor/vcpus"),
    ({"ram": 64, "vcpus": 1, "disk": 0}, "name"),
    ({"name": "m1.nano", "ram": 64, "vcpus": 1, "disk": 0}, "already exists"),
])
def test_bad_flavor_input(env, body, needle):
    with database.connection_context():
        before = Flavor.select().count()
    resp = env.admin.post("/v2.1/flavors", json={"flavor": body})
    assert resp.status_code in (400, 409)
    assert needle in next(iter(resp.json.values()))["message"]
    with database.connection_context():
        assert Flavor.select().count() == before


def test_members_cannot_manage_flavors(env):
    resp = env.api.post("/v2.1/flavors", json={"flavor": {"name": "x", "ram": 64, "vcpus": 1, "disk": 0}})
    assert resp.status_code == 403 and resp.json["forbidden"]["code"] == 403
    assert env.api.post("/v2.1/flavors/6/os-extra_specs", json={"extra_specs": {"a": "b"}}).status_code == 403


def test_extra_specs_crud_and_validation(env):
    resp = env.admin.post("/v2.1/flavors/6/os-extra_specs", json={"extra_specs": {"hw:cpu_policy": "dedicated"}})
    assert resp.status_code == 200 and resp.json["extra_specs"] == {"hw:cpu_policy": "dedicated"}
    assert env.api.get("/v2.1/flavors/6/os-extra_specs/hw:cpu_policy").json == {"hw:cpu_policy": "dedicated"}
    bad = env.admin.post("/v2.1/flavors/6/os-extra_specs", json={"extra_specs": {"hw:cpu_policy": "greedy"}})
    assert bad.status_code == 400 and "hw:cpu_policy" in bad.json["badRequest"]["message"]
    assert env.admin.delete("/v2.1/flavors/6/os-extra_specs/hw:cpu_policy").status_code == 200
    assert env.api.get("/v2.1/flavors/6/os-extra_specs").json["extra_specs"] == {}


def test_well_formed_extra_specs_no_host_could_give_are_accepted(env):
    """A page size no host has is a scheduling question (the server fails to build), not a malformed flavor."""
    resp = env.admin.post("/v2.1/flavors/6/os-extra_specs", json={"extra_specs": {"hw:mem_page_size": "16MB"}})
    assert resp.status_code == 200 and resp.json["extra_specs"]["hw:mem_page_size"] == "16MB"
    assert env.admin.delete("/v2.1/flavors/6/os-extra_specs/hw:mem_page_size").status_code == 200
    bad = env.admin.post("/v2.1/flavors/6/os-extra_specs", json={"extra_specs": {"hw:numa_nodes": "two"}})
    assert bad.status_code == 400 and "hw:numa_nodes" in bad.json["badRequest"]["message"]


@pytest.mark.parametrize("specs,needle", [
    ({"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "spread"}, "Invalid hw:cpu_thread_policy 'spread'"),
    ({"hw:cpu_thread_policy": "isolate"}, "hw:cpu_thread_policy requires hw:cpu_policy=dedicated"),
])
def test_bad_thread_policy_is_refused_and_changes_nothing(env, specs, needle):
    bad = env.admin.post("/v2.1/flavors/6/os-extra_specs", json={"extra_specs": specs})
    assert bad.status_code == 400 and needle in bad.json["badRequest"]["message"], bad.json
    assert env.api.get("/v2.1/flavors/6/os-extra_specs").json["extra_specs"] == {}
    # require is well formed: whether a node has SMT is the scheduler's question
    good = {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "require"}
    assert env.admin.post("/v2.1/flavors/6/os-extra_specs", json={"extra_specs": good}).status_code == 200


def test_keypairs(env):
    resp = env.api.post("/v2.1/os-keypairs", json={"keypair": {"name": "k1", "public_key": PUB}})
    assert resp.status_code == 201
    kp = resp.json["keypair"]
    assert kp["fingerprint"].count(":") == 15 and kp["user_id"] == "u-member" and kp["type"] == "ssh"
    assert env.api.post("/v2.1/os-keypairs", json={"keypair": {"name": "k1", "public_key": PUB}}).status_code == 409
    bad = env.api.post("/v2.1/os-keypairs", json={"keypair": {"name": "k2", "public_key": "garbage"}})
    assert bad.status_code == 400 and "Keypair data is invalid" in bad.json["badRequest"]["message"]
    bad = env.api.post("/v2.1/os-keypairs", json={"keypair": {"name": "bad/name", "public_key": PUB}})
    assert bad.status_code == 400 and "keypair/name" in bad.json["badRequest"]["message"]
    gen = env.api.post("/v2.1/os-keypairs", json={"keypair": {"name": "gen"}}).json["keypair"]
    assert "PRIVATE KEY" in gen["private_key"]
    names = [k["keypair"]["name"] for k in env.api.get("/v2.1/os-keypairs").json["keypairs"]]
    assert names == ["gen", "k1"]
    assert env.other.get("/v2.1/os-keypairs/k1").status_code == 404
    sid = env.boot(key_name="k1")
    assert env.api.get(f"/v2.1/servers/{sid}").json["server"]["key_name"] == "k1"
    assert env.api.delete("/v2.1/os-keypairs/k1").status_code == 204
    assert env.api.get("/v2.1/os-keypairs/k1").status_code == 404


def test_admin_views(env):
    env.boot()
    assert env.api.get("/v2.1/os-hypervisors").status_code == 403
    hyp = env.admin.get("/v2.1/os-hypervisors/detail").json["hypervisors"][0]
    assert hyp["hypervisor_type"] == "FAKE" and hyp["running_vms"] == 1 and hyp["vcpus_used"] == 1
    assert hyp["cpu_info"]["domain_type"] == "fake"
    services = env.admin.get("/v2.1/os-services").json["services"]
    assert services[0]["binary"] == "nova-compute" and services[0]["state"] == "up"
    assert env.api.get("/v2.1/os-services").status_code == 403
    assert env.api.get("/v2.1/os-availability-zone").json["availabilityZoneInfo"][0]["zoneName"] == "nova"


def test_the_legacy_force_down_action_holds_and_is_lifted(env):
    env.boot()
    host = env.admin.get("/v2.1/os-services").json["services"][0]["host"]
    body = {"host": host, "binary": "nova-compute", "forced_down": True}
    resp = env.admin.put("/v2.1/os-services/force-down", json=body, version="2.11")
    assert resp.status_code == 200 and resp.json["service"] == {"host": host, "binary": "nova-compute",
                                                               "forced_down": True}
    # a restart of the service re-registers the node: a forced-down node stays down
    with database.connection_context():
        scheduler.register_local(env.manager.node)
    service = env.admin.get("/v2.1/os-services", version="2.11").json["services"][0]
    assert service["state"] == "down" and service["forced_down"] is True
    bad = env.admin.put("/v2.1/os-services/force-down", json={**body, "forced_down": "yes"}, version="2.11")
    assert bad.status_code == 400 and "forced_down" in bad.json["badRequest"]["message"]
    lifted = env.admin.put("/v2.1/os-services/force-down", json={**body, "forced_down": False}, version="2.11")
    assert lifted.json["service"]["forced_down"] is False
    assert env.admin.get("/v2.1/os-services").json["services"][0]["state"] == "up"
    assert env.api.put("/v2.1/os-services/force-down", json=body, version="2.11").status_code == 403


def test_bad_quota_and_group_input_changes_nothing(env):
    resp = env.admin.put("/v2.1/os-quota-sets/p-test", json={"quota_set": {"instances": "many"}})
    assert resp.status_code == 400 and "instances" in resp.json["badRequest"]["message"]
    resp = env.admin.put("/v2.1/os-quota-sets/p-test", json={"quota_set": {"widgets": 3}})
    assert resp.status_code == 400 and "widgets" in resp.json["badRequest"]["message"]
    assert env.api.get("/v2.1/os-quota-sets/p-test").json["quota_set"]["instances"] == 10
    resp = env.api.post("/v2.1/os-server-groups", json={"server_group": {"name": "g", "policy": "clumped"}})
    assert resp.status_code == 400 and "server_group/policy" in resp.json["badRequest"]["message"]
    resp = env.api.post("/v2.1/os-server-groups", json={"server_group": {"name": "g", "policy": "affinity",
                                                                         "rules": {"max_server_per_host": 2}}})
    assert resp.status_code == 400 and "anti-affinity" in resp.json["badRequest"]["message"]
    assert env.api.get("/v2.1/os-server-groups").json["server_groups"] == []
    assert env.api.get("/v2.1/os-server-groups/nope").status_code == 404
    assert env.admin.get("/v2.1/os-hypervisors/nope").status_code == 404


def test_another_projects_group_and_quotas_are_hidden(env):
    gid = env.api.post("/v2.1/os-server-groups",
                       json={"server_group": {"name": "g", "policy": "affinity"}}).json["server_group"]["id"]
    assert env.other.get(f"/v2.1/os-server-groups/{gid}").status_code == 404
    assert env.other.delete(f"/v2.1/os-server-groups/{gid}").status_code == 404
    assert env.other.get("/v2.1/os-quota-sets/p-test").status_code == 403
    assert env.api.get(f"/v2.1/os-server-groups/{gid}").status_code == 200
