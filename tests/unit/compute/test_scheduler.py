"""The scheduler over ten fake nodes: every filter and weigher, spread vs pack, groups, zones, pinned CPUs, huge
pages, atomic claims under 20 concurrent creates (SQLite and PostgreSQL), claims freed by teardown."""
from __future__ import annotations

import threading
import uuid

import pytest

from services.compute import models, scheduler
from services.compute.drivers import hardware
from services.compute.drivers.fake import FakeDriver
from services.compute.drivers.specs import DriverError, HostLacks
from services.compute.models import Allocation, ComputeNode, Instance
from services.compute.scheduler import filters, request, weighers
from services.compute.scheduler.claims import NoValidHost, claim, release
from services.compute.scheduler.state import HostState

from scheduler_support import GIB, caps, group, nodes, server


def node_row(host="n1", **kw) -> ComputeNode:
    """An unsaved row for the filter tests (no database)."""
    fields = dict(host=host, availability_zone="nova", state="up", disabled=False, hypervisor_type="qemu",
                  arch="x86_64", vcpus=8, memory_mb=8 * GIB, disk_gb=100, numa_nodes=1, dedicated_cpus=[],
                  hugepages={}, cpu_allocation_ratio=16.0, ram_allocation_ratio=1.5, disk_allocation_ratio=1.0)
    fields.update(kw)
    return ComputeNode(**fields)


def spec(**kw) -> request.RequestSpec:
    fields = dict(instance_id="i", vcpus=1, memory_mb=512, disk_gb=1)
    fields.update(kw)
    return request.RequestSpec(**fields)


# -- filters, one by one (no database) --------------------------------------------------------------------------
@pytest.mark.parametrize("flt,row,used,req,passes", [
    (filters.ComputeFilter(), {}, {}, {}, True),
    (filters.ComputeFilter(), {"state": "down"}, {}, {}, False),
    (filters.ComputeFilter(), {"disabled": True}, {}, {}, False),
    (filters.ComputeFilter(), {"disabled": True}, {}, {"force_host": "n1"}, True),   # an admin's zone:host
    (filters.AvailabilityZoneFilter(), {"availability_zone": "edge"}, {}, {"zone": "edge"}, True),
    (filters.AvailabilityZoneFilter(), {"availability_zone": "edge"}, {}, {"zone": "core"}, False),
    (filters.AvailabilityZoneFilter(), {"availability_zone": "edge"}, {}, {}, True),
    (filters.HostFilter(), {}, {}, {"force_host": "n2"}, False),
    # RAM: 8 GiB x 1.5 = 12 GiB
    (filters.RamFilter(), {}, {"memory_mb_used": 11 * GIB}, {"memory_mb": GIB}, True),
    (filters.RamFilter(), {}, {"memory_mb_used": 11 * GIB + 1}, {"memory_mb": GIB}, False),
    (filters.RamFilter(), {"ram_allocation_ratio": 1.0}, {"memory_mb_used": 7 * GIB + 1}, {"memory_mb": GIB}, False),
    # vCPUs: 8 x 16 = 128; the dedicated ones are not in the shared pool
    (filters.CoreFilter(), {}, {"vcpus_used": 127}, {"vcpus": 1}, True),
    (filters.CoreFilter(), {}, {"vcpus_used": 127}, {"vcpus": 2}, False),
    (filters.CoreFilter(), {"dedicated_cpus": [4, 5, 6, 7], "cpu_allocation_ratio": 1.0}, {"vcpus_used": 4},
     {"vcpus": 1}, False),
    (filters.DiskFilter(), {}, {"disk_gb_used": 99}, {"disk_gb": 1}, True),
    (filters.DiskFilter(), {}, {"disk_gb_used": 99}, {"disk_gb": 2}, False),
    (filters.DiskFilter(), {"disk_gb": 0}, {}, {"disk_gb": 2}, True),    # a node that does not know its disk
    (filters.NUMATopologyFilter(), {"dedicated_cpus": [2, 3]}, {"cpus_used": {2}},
     {"vcpus": 1, "extra_specs": {"hw:cpu_policy": "dedicated"}}, True),
    (filters.NUMATopologyFilter(), {"dedicated_cpus": [2, 3]}, {"cpus_used": {2}},
     {"vcpus": 2, "extra_specs": {"hw:cpu_policy": "dedicated"}}, False),
    (filters.NUMATopologyFilter(), {"hugepages": {"2048": 256}}, {}, {"extra_specs": {"hw:mem_page_size": "2MB"}},
     True),
    (filters.NUMATopologyFilter(), {"hugepages": {"2048": 255}}, {}, {"extra_specs": {"hw:mem_page_size": "large"}},
     False),
    (filters.NUMATopologyFilter(), {}, {}, {"extra_specs": {"hw:mem_page_size": "any"}}, True),
    (filters.NUMATopologyFilter(), {}, {}, {"extra_specs": {"hw:numa_nodes": "2"}}, False),
    (filters.ImagePropertiesFilter(), {}, {}, {"image_props": {"hw_architecture": "x86_64"}}, True),
    (filters.ImagePropertiesFilter(), {}, {}, {"image_props": {"hw_architecture": "aarch64"}}, False),
    (filters.ImagePropertiesFilter(), {"hypervisor_type": "kvm"}, {}, {"image_props": {"img_hv_type": "qemu"}}, True),
    (filters.ImagePropertiesFilter(), {"hypervisor_type": "qemu"}, {}, {"image_props": {"img_hv_type": "kvm"}},
     False),
    (filters.ServerGroupAntiAffinityFilter(), {}, {"group_members": 1}, {"group_policy": "anti-affinity"}, False),
    (filters.ServerGroupAntiAffinityFilter(), {}, {"group_members": 1},
     {"group_policy": "anti-affinity", "group_rules": {"max_server_per_host": 2}}, True),
    (filters.ServerGroupAntiAffinityFilter(), {}, {"group_members": 1}, {"group_policy": "soft-anti-affinity"}, True),
    (filters.ServerGroupAffinityFilter({"n2"}), {}, {}, {"group_policy": "affinity"}, False),
    (filters.ServerGroupAffinityFilter(set()), {}, {}, {"group_policy": "affinity"}, True),
])
def test_each_filter(flt, row, used, req, passes):
    host = HostState(node_row(**row), **used)
    assert flt.passes(host, spec(**req)) is passes


def test_filter_results_say_which_filter_removed_the_hosts():
    hosts = [HostState(node_row(f"n{i}", memory_mb=GIB, ram_allocation_ratio=1.0)) for i in range(3)]
    left, results = filters.run(filters.default_filters(set()), hosts, spec(memory_mb=2 * GIB))
    assert left == [] and results[-1] == "RamFilter: (start: 3, end: 0)"
    assert "ComputeFilter: (start: 3, end: 3)" in results


def test_weighers_spread_pack_and_soft_groups():
    full = HostState(node_row("a"), memory_mb_used=6 * GIB)
    empty = HostState(node_row("b"))
    assert weighers.best([full, empty], {}, spec()).host == "b"
    assert weighers.best([full, empty], {"scheduler_weigher": "pack"}, spec()).host == "a"
    full.group_members = 1
    # soft-affinity outweighs spread; soft-anti-affinity outweighs pack
    assert weighers.best([full, empty], {}, spec(group_policy="soft-affinity")).host == "a"
    assert weighers.best([full, empty], {"scheduler_weigher": "pack"},
                         spec(group_policy="soft-anti-affinity")).host == "b"


def test_zone_forms():
    assert request.parse_zone("edge") == ("edge", None)
    assert request.parse_zone("edge:n3") == ("edge", "n3")
    assert request.parse_zone(":n3") == (None, "n3")
    assert request.parse_zone("edge:n3:node") == ("edge", "n3")
    assert request.parse_zone("") == (None, None)


def test_claimed_cpus_are_the_ones_pinned():
    host = caps("h", dedicated=[2, 3, 4, 5])
    assert hardware.plan({"hw:cpu_policy": "dedicated"}, 2, 512, host, [4, 5])["pins"] == {0: 4, 1: 5}
    assert hardware.plan({"hw:cpu_policy": "dedicated"}, 2, 512, host)["pins"] == {0: 2, 1: 3}
    with pytest.raises(HostLacks, match=r"\[9\]"):
        hardware.plan({"hw:cpu_policy": "dedicated"}, 2, 512, host, [4, 9])
    with pytest.raises(DriverError):
        hardware.plan({"hw:cpu_policy": "dedicated"}, 2, 512, host, [4, 4])


def test_the_claimed_page_size_is_the_one_the_guest_gets():
    host = caps("h", hugepages={2048: 1024, 1048576: 4})   # 2 GiB of 2 MiB pages, 4 GiB of 1 GiB pages
    large = {"hw:mem_page_size": "large"}
    # alone, "large" takes the smallest size with room; the claim's size wins, as the node counted it
    assert hardware.plan(large, 1, 1024, host)["page_kib"] == 2048
    assert hardware.plan(large, 1, 1024, host, page_kib=1048576)["page_kib"] == 1048576
    assert hardware.plan({"hw:mem_page_size": "any"}, 1, 1024, host, page_kib=1048576)["page_kib"] == 1048576
    # a claimed size the host no longer has room in is refused with the reason, not swapped for another
    with pytest.raises(HostLacks, match="claimed 1048576 KiB pages"):
        hardware.plan(large, 1, 8192, host, page_kib=1048576)
    # small pages ignore a stale claim
    assert hardware.plan({"hw:mem_page_size": "small"}, 1, 1024, host, page_kib=2048)["page_kib"] is None


# -- claims against the database ------------------------------------------------------------------------------
def test_spread_by_default_and_pack_when_asked(db):
    nodes(10)
    spread = [claim(server(), {}).host for _ in range(10)]
    assert sorted(spread) == [f"n{i:02d}" for i in range(10)]
    packed = {claim(server(), {"scheduler_weigher": "pack"}).host for _ in range(5)}
    assert len(packed) == 1


def test_anti_affinity_spreads_three_over_three_and_refuses_the_fourth(db):
    nodes(3)
    g = group("anti-affinity")
    hosts = [claim(server(group=g), {}).host for _ in range(3)]
    assert sorted(hosts) == ["n00", "n01", "n02"]
    with pytest.raises(NoValidHost) as err:
        claim(server(group=g), {})
    assert "ServerGroupAntiAffinityFilter: (start: 3, end: 0)" in err.value.details
    assert str(err.value) == ("No valid host was found. There are not enough hosts available. "
                              "Filters that removed hosts: ServerGroupAntiAffinityFilter.")
    g2 = group("anti-affinity", max_server_per_host=2)
    assert sorted(claim(server(group=g2), {}).host for _ in range(6)) == ["n00", "n00", "n01", "n01", "n02", "n02"]


def test_affinity_keeps_a_group_together_until_its_node_is_full(db):
    nodes(3, memory_mb=GIB, section={"ram_allocation_ratio": 1.0})
    g = group("affinity")
    first = claim(server(group=g), {}).host
    assert claim(server(group=g), {}).host == first
    with pytest.raises(NoValidHost, match="removed hosts: RamFilter, ServerGroupAffinityFilter") as err:
        claim(server(group=g), {})
    assert "ServerGroupAffinityFilter: (start: 2, end: 0)" in err.value.details


def test_soft_policies_prefer_but_never_refuse(db):
    nodes(3)
    soft = group("soft-affinity")
    assert len({claim(server(group=soft), {}).host for _ in range(4)}) == 1
    anti = group("soft-anti-affinity")
    hosts = [claim(server(group=anti), {"scheduler_weigher": "pack"}).host for _ in range(4)]
    assert len(set(hosts[:3])) == 3 and hosts[3] in hosts[:3]   # the fourth shares a node, not refused


def test_zones_and_forced_host(db):
    nodes(4)
    ComputeNode.update(availability_zone="edge").where(ComputeNode.host.in_(["n02", "n03"])).execute()
    assert {claim(server(zone="edge"), {}).host for _ in range(4)} == {"n02", "n03"}
    placed = server(zone="edge:n03")
    assert claim(placed, {}).host == "n03"
    assert Instance.get_by_id(placed.id).availability_zone == "edge"
    with pytest.raises(NoValidHost, match="AvailabilityZoneFilter"):
        claim(server(zone="core"), {})
    anywhere = server()
    claim(anywhere, {})
    assert Instance.get_by_id(anywhere.id).availability_zone in ("nova", "edge")


def test_down_and_disabled_nodes_take_nothing(db):
    rows = nodes(3)
    scheduler.nodes.set_state("n00", "down")
    scheduler.nodes.set_disabled(rows[1], True, "maintenance")
    assert {claim(server(), {}).host for _ in range(3)} == {"n02"}
    # a refresh at the node's restart keeps the admin's disable
    assert scheduler.register("n01", caps("n01"), {}).disabled_reason == "maintenance"


def test_ram_allocation_ratio_bounds_a_node(db):
    nodes(1, memory_mb=GIB, section={"ram_allocation_ratio": 1.5})
    for _ in range(3):
        claim(server(), {})
    with pytest.raises(NoValidHost, match="removed hosts: RamFilter") as err:
        claim(server(), {})
    assert "RamFilter: (start: 1, end: 0)" in err.value.details


def test_dedicated_cpus_are_never_shared(db):
    nodes(2, dedicated=[4, 5, 6, 7])
    pinned = {"vcpus": 2, "extra_specs": {"hw:cpu_policy": "dedicated"}}
    held = [claim(server(pinned), {}) for _ in range(4)]
    per_host: dict = {}
    for alloc in held:
        assert len(alloc.cpus) == 2 and alloc.vcpus == 0
        per_host.setdefault(alloc.host, []).extend(alloc.cpus)
    assert {h: sorted(c) for h, c in per_host.items()} == {"n00": [4, 5, 6, 7], "n01": [4, 5, 6, 7]}
    with pytest.raises(NoValidHost, match="NUMATopologyFilter"):
        claim(server(pinned), {})
    release(held[0].instance_id)
    assert sorted(claim(server(pinned), {}).cpus) == sorted(held[0].cpus)


def test_isolated_emulator_threads_hold_one_more_cpu(db):
    nodes(1, dedicated=[4, 5, 6, 7])
    isolated = {"vcpus": 2, "extra_specs": {"hw:cpu_policy": "dedicated", "hw:emulator_threads_policy": "isolate"}}
    first = claim(server(isolated), {})
    assert sorted(first.cpus) == [4, 5, 6]               # two vCPUs and their emulator threads' own CPU
    # one CPU left: neither another isolated guest nor a two-vCPU pinned one fits, a one-vCPU one does
    for extra in (isolated, {"vcpus": 2, "extra_specs": {"hw:cpu_policy": "dedicated"}}):
        with pytest.raises(NoValidHost, match="NUMATopologyFilter"):
            claim(server(extra), {})
    assert claim(server({"vcpus": 1, "extra_specs": {"hw:cpu_policy": "dedicated"}}), {}).cpus == [7]


def test_huge_pages_are_accounted_per_node(db):
    nodes(1, hugepages={2048: 512})          # 1 GiB of 2 MiB pages
    paged = {"ram": 512, "extra_specs": {"hw:mem_page_size": "2MB"}}
    first = claim(server(paged), {})
    assert first.page_kib == 2048
    # what the guest's spec is given: the claim's page size (and no pinned CPUs for a shared-CPU server)
    assert scheduler.held(first.instance_id) == {"cpuset": None, "page_kib": 2048}
    assert scheduler.held("no-such-server") == {"cpuset": None, "page_kib": None}
    claim(server(paged), {})
    with pytest.raises(NoValidHost, match="NUMATopologyFilter"):
        claim(server(paged), {})
    # a restart re-reads the free pages (now 0): the ones our servers hold are still the node's
    assert scheduler.register("n00", caps("n00", hugepages={2048: 0}), {}).hugepages == {"2048": 512}


def test_image_properties_pick_the_architecture(db):
    nodes(2)
    scheduler.register("arm", caps("arm", arch="aarch64"), {})
    assert claim(server(), {}, {"hw_architecture": "aarch64"}).host == "arm"


def test_a_claim_is_idempotent_and_deleted_servers_hold_nothing(db):
    nodes(1, memory_mb=GIB, section={"ram_allocation_ratio": 1.0})
    inst = server()
    first = claim(inst, {})
    assert claim(inst, {}).id == first.id
    Instance.update(deleted=True).where(Instance.id == inst.id).execute()   # a crash before its teardown
    claim(server(), {})
    claim(server(), {})
    assert Allocation.select().count() == 2


def test_twenty_concurrent_claims_never_overcommit(settings, db):
    """Three nodes with room for 4 + 4 + 2 servers; 20 builders at once: exactly 10 placed, no node over."""
    scheduler.register("a", caps("a", memory_mb=2 * GIB), {"ram_allocation_ratio": 1.0})
    scheduler.register("b", caps("b", memory_mb=2 * GIB), {"ram_allocation_ratio": 1.0})
    scheduler.register("c", caps("c", memory_mb=GIB), {"ram_allocation_ratio": 1.0})
    ids = [server().id for _ in range(20)]
    placed, refused, errors = [], [], []
    start = threading.Barrier(20)

    def build(iid):
        with models.database.connection_context():
            start.wait()
            try:
                placed.append(claim(Instance.get_by_id(iid), {}).host)
            except NoValidHost:
                refused.append(iid)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))
    threads = [threading.Thread(target=build, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(placed) == 10 and len(refused) == 10
    assert {h: placed.count(h) for h in "abc"} == {"a": 4, "b": 4, "c": 2}
    assert Allocation.select().count() == 10


# -- through the API, with ten fake nodes in the node registry --------------------------------------------------
@pytest.fixture
def site(env):
    """env's own node plus nine fake nodes, each with its own FakeDriver registered on the node."""
    drivers = {}
    with models.database.connection_context():
        for i in range(1, 10):
            host = f"node{i}"
            drivers[host] = FakeDriver(prefix="egunit-", caps=caps(host, dedicated=[3], cpus=4,
                                                                   hugepages={2048: 512} if i == 5 else None,
                                                                   siblings=[[0, 2], [1, 3]] if i == 6 else ()))
            env.manager.node.register_driver(host, drivers[host])
            scheduler.register(host, drivers[host].caps, {"availability_zone": "edge" if i > 6 else "nova"})
    env.drivers = drivers
    return env


def _server(env, sid, api=None):
    return (api or env.admin).get(f"/v2.1/servers/{sid}").json["server"]


def test_the_api_lists_every_node(site):
    hyps = site.admin.get("/v2.1/os-hypervisors/detail").json["hypervisors"]
    assert len(hyps) == 10 and {h["state"] for h in hyps} == {"up"}
    stats = site.admin.get("/v2.1/os-hypervisors/statistics").json["hypervisor_statistics"]
    assert stats["count"] == 10 and stats["vcpus"] == 64 + 9 * 4
    one = next(h for h in hyps if h["hypervisor_hostname"] == "node3")
    # what the nodes said of their cores: node6 has two threads per core
    topology = {h["hypervisor_hostname"]: (h["cpu_info"]["topology"], h["cpu_info"]["thread_siblings"]) for h in hyps}
    assert topology["node6"] == ({"cores": 2, "sockets": 1, "threads": 2}, [[0, 2], [1, 3]])
    assert topology["node3"] == ({"cores": 4, "sockets": 1, "threads": 1}, [])
    assert site.admin.get(f"/v2.1/os-hypervisors/{one['id']}").json["hypervisor"]["hypervisor_hostname"] == "node3"
    found = site.admin.get("/v2.1/os-hypervisors?hypervisor_hostname_pattern=node7").json["hypervisors"]
    assert [h["hypervisor_hostname"] for h in found] == ["node7"]
    old = site.admin.get("/v2.1/os-hypervisors", version="2.1").json["hypervisors"]
    assert sorted(h["id"] for h in old) == list(range(1, 11))
    zones = site.api.get("/v2.1/os-availability-zone").json["availabilityZoneInfo"]
    assert {z["zoneName"] for z in zones} == {"nova", "edge"} and all(z["hosts"] is None for z in zones)
    detail = site.admin.get("/v2.1/os-availability-zone/detail").json["availabilityZoneInfo"]
    assert set(next(z for z in detail if z["zoneName"] == "edge")["hosts"]) == {"node7", "node8", "node9"}
    services = site.admin.get("/v2.1/os-services?binary=nova-compute").json["services"]
    assert len(services) == 10 and {s["zone"] for s in services} == {"nova", "edge"}
    # the zones as Nova's aggregates (what `openstack hypervisor show` reads), and Nova's 501 for uptime
    aggs = site.admin.get("/v2.1/os-aggregates").json["aggregates"]
    assert [(a["name"], a["hosts"]) for a in aggs] == [("edge", ["node7", "node8", "node9"])]
    assert site.api.get("/v2.1/os-aggregates").status_code == 403
    assert site.admin.get(f"/v2.1/os-hypervisors/{one['id']}/uptime").status_code == 501
    assert site.admin.get(f"/v2.1/os-hypervisors/{uuid.uuid4()}/uptime").status_code == 404


def test_disable_a_node_through_os_services(site):
    services = site.admin.get("/v2.1/os-services?host=node4").json["services"]
    sid = services[0]["id"]
    resp = site.admin.put(f"/v2.1/os-services/{sid}", json={"status": "disabled", "disabled_reason": "disk swap"})
    assert resp.status_code == 200, resp.json
    assert resp.json["service"]["status"] == "disabled" and resp.json["service"]["disabled_reason"] == "disk swap"
    hyp = site.admin.get("/v2.1/os-hypervisors?hypervisor_hostname_pattern=node4").json["hypervisors"][0]
    assert hyp["status"] == "disabled"
    assert site.api.put(f"/v2.1/os-services/{sid}", json={"status": "enabled"}).status_code == 403
    bad = site.admin.put(f"/v2.1/os-services/{sid}", json={"status": "asleep"})
    assert bad.status_code == 400 and "status" in bad.json["badRequest"]["message"]
    bad = site.admin.put(f"/v2.1/os-services/{sid}", json={"status": "enabled", "disabled_reason": "x"})
    assert bad.status_code == 400 and "disabled_reason" in bad.json["badRequest"]["message"]
    assert site.admin.put(f"/v2.1/os-services/{uuid.uuid4()}", json={"status": "enabled"}).status_code == 404
    # before 2.53 the action is in the path and the body names the service
    legacy = site.admin.put("/v2.1/os-services/enable", json={"host": "node4", "binary": "nova-compute"},
                            version="2.1")
    assert legacy.status_code == 200 and legacy.json["service"]["status"] == "enabled"
    legacy = site.admin.put("/v2.1/os-services/disable-log-reason", version="2.1",
                            json={"host": "node5", "binary": "nova-compute", "disabled_reason": "fan"})
    assert legacy.json["service"] == {"host": "node5", "binary": "nova-compute", "status": "disabled",
                                      "disabled_reason": "fan"}
    assert site.admin.put("/v2.1/os-services/disable", json={"host": "nowhere", "binary": "nova-compute"},
                          version="2.1").status_code == 404


def test_zone_and_zone_host_on_create(site):
    sid = site.boot(availability_zone="edge")
    assert _server(site, sid)["OS-EXT-SRV-ATTR:host"] in ("node7", "node8", "node9")
    assert _server(site, sid)["OS-EXT-AZ:availability_zone"] == "edge"
    resp = site.api.post("/v2.1/servers", json=site.server_body(availability_zone="nova:node2"))
    assert resp.status_code == 403 and "forced_host" in resp.json["forbidden"]["message"]
    resp = site.admin.post("/v2.1/servers", json=site.server_body(availability_zone="nova:node2"))
    assert resp.status_code == 202
    assert _server(site, resp.json["server"]["id"])["OS-EXT-SRV-ATTR:host"] == "node2"
    assert "egunit-" + resp.json["server"]["id"] in site.drivers["node2"].domains
    resp = site.api.post("/v2.1/servers", json=site.server_body(availability_zone="mars"))
    assert resp.status_code == 400 and "server/availability_zone" in resp.json["badRequest"]["message"]


def test_pinned_servers_through_the_api_never_share_a_host_cpu(site):
    site.driver.caps.dedicated_cpus = [2, 3]
    with models.database.connection_context():
        scheduler.register_local(site.manager.node)
    site.admin.post("/v2.1/flavors", json={"flavor": {"name": "pin", "ram": 256, "vcpus": 1, "disk": 0, "id": "pin"}})
    site.admin.post("/v2.1/flavors/pin/os-extra_specs", json={"extra_specs": {"hw:cpu_policy": "dedicated"}})
    assert site.admin.put("/v2.1/os-quota-sets/p-test", json={"quota_set": {"instances": 30, "cores": 30}}
                          ).status_code == 200
    pins: dict = {}
    for _ in range(11):          # two dedicated CPUs here, one on each of the nine others
        sid = site.boot(flavorRef="pin")
        srv = _server(site, sid)
        assert srv["status"] == "ACTIVE", srv.get("fault")
        host = srv["OS-EXT-SRV-ATTR:host"]
        driver = site.driver if host == site.manager.host else site.drivers[host]
        xml = driver.domains["egunit-" + sid]["xml"]
        cpu = xml.split('<vcpupin vcpu="0" cpuset="')[1].split('"')[0]
        assert (host, cpu) not in pins.values()
        pins[sid] = (host, cpu)
    assert len(set(pins.values())) == 11
    refused = _server(site, site.boot(flavorRef="pin"), site.api)
    assert refused["status"] == "ERROR" and refused["fault"]["message"].startswith("No valid host was found.")
    assert refused["fault"]["message"].endswith("Filters that removed hosts: NUMATopologyFilter.")
    # how many nodes there are is for admins
    assert "details" not in refused["fault"]
    details = site.admin.get(f"/v2.1/servers/{refused['id']}").json["server"]["fault"]["details"]
    assert "NUMATopologyFilter: (start: 10, end: 0)" in details
    # a delete gives its CPU back
    gone = next(iter(pins))
    assert site.api.delete(f"/v2.1/servers/{gone}").status_code == 204
    again = _server(site, site.boot(flavorRef="pin"))
    assert again["status"] == "ACTIVE" and again["OS-EXT-SRV-ATTR:host"] == pins[gone][0]


def test_specs_one_node_can_give_are_accepted_and_land_there(site):
    site.admin.post("/v2.1/flavors", json={"flavor": {"name": "hp", "ram": 256, "vcpus": 1, "disk": 0, "id": "hp"}})
    site.admin.post("/v2.1/flavors/hp/os-extra_specs", json={"extra_specs": {"hw:mem_page_size": "2MB"}})
    srv = _server(site, site.boot(flavorRef="hp"))
    assert srv["status"] == "ACTIVE" and srv["OS-EXT-SRV-ATTR:host"] == "node5"
    site.admin.post("/v2.1/flavors/hp/os-extra_specs", json={"extra_specs": {"hw:mem_page_size": "1GB"}})
    resp = site.api.post("/v2.1/servers", json=site.server_body(flavorRef="hp"))
    assert resp.status_code == 400 and "huge pages" in resp.json["badRequest"]["message"]


def test_a_failed_build_frees_its_claim(site):
    for driver in [site.driver, *site.drivers.values()]:
        driver.fail_spawn = "boom"
    sid = site.boot()
    assert _server(site, sid)["status"] == "ERROR"
    with models.database.connection_context():
        assert Allocation.get_or_none(Allocation.instance_id == sid) is None
    for driver in [site.driver, *site.drivers.values()]:
        driver.fail_spawn = None
    sid = site.boot()
    with models.database.connection_context():
        assert Allocation.get_or_none(Allocation.instance_id == sid) is not None


def test_the_node_registry(site):
    node = site.manager.node
    assert node.driver_for(Instance(host="node3")) is site.drivers["node3"]
    assert node.driver_for(Instance(host="")) is site.driver
    with pytest.raises(DriverError, match="ghost"):
        node.driver_for(Instance(host="ghost"))
    with pytest.raises(ValueError):
        node.register_driver(node.host, FakeDriver())
    assert set(node.drivers()) == {node.host, *site.drivers}


def test_resize_in_place_is_claimed_on_the_servers_node(db):
    nodes(1, memory_mb=2 * GIB, dedicated=[4, 5, 6, 7], section={"ram_allocation_ratio": 1.0})
    pinned = {"vcpus": 1, "ram": 512, "extra_specs": {"hw:cpu_policy": "dedicated"}}
    inst, other = server(pinned), server(pinned)
    first = claim(inst, {}).cpus
    claim(other, {})
    grown = scheduler.resize(inst, {**pinned, "vcpus": 2})
    # it keeps its CPU (vCPU 0 stays where it was) and adds a free one, never the other server's
    assert grown.cpus[0] == first[0] and len(set(grown.cpus)) == 2
    assert not set(grown.cpus) & set(Allocation.get(Allocation.instance_id == other.id).cpus)
    with pytest.raises(NoValidHost, match="not enough room on the server's node"):
        scheduler.resize(inst, {**pinned, "ram": 2 * GIB})
    assert Allocation.get(Allocation.instance_id == inst.id).memory_mb == 512    # nothing changed
    # until it is confirmed or reverted, the claim holds both flavors: a revert gives the same CPUs back
    assert scheduler.resize(inst, pinned).cpus == grown.cpus
    scheduler.settle(inst, pinned)
    assert Allocation.get(Allocation.instance_id == inst.id).cpus == [first[0]]


def test_a_resize_holds_the_larger_of_both_flavors_until_it_settles(db):
    nodes(1, memory_mb=2 * GIB, section={"ram_allocation_ratio": 1.0, "cpu_allocation_ratio": 1.0}, cpus=4)
    small, big = {"vcpus": 1, "ram": 1024, "disk": 1}, {"vcpus": 2, "ram": 512, "disk": 5}
    inst = server(small)
    claim(inst, {})

    def figures():
        alloc = Allocation.get(Allocation.instance_id == inst.id)
        return alloc.vcpus, alloc.memory_mb, alloc.disk_gb
    assert (scheduler.resize(inst, big).vcpus, figures()) == (2, (2, 1024, 5))
    # the RAM the new flavor frees stays held for a revert: another server cannot take it meanwhile
    with pytest.raises(NoValidHost):
        claim(server({"vcpus": 1, "ram": 1536}), {})
    scheduler.resize(inst, small)                    # reverted: the old flavor's figures again
    scheduler.settle(inst, small)
    assert figures() == (1, 1024, 1)
    scheduler.resize(inst, big)                      # again, and confirmed: the new flavor's alone
    scheduler.settle(inst, big)
    assert figures() == (2, 512, 5)
    assert claim(server({"vcpus": 1, "ram": 1536}), {}).host == "n00"


def test_resize_through_the_api_fails_cleanly_without_room(site):
    site.admin.post("/v2.1/flavors", json={"flavor": {"name": "huge", "ram": 32 * GIB, "vcpus": 1, "disk": 0,
                                                      "id": "huge"}})
    sid = site.boot(availability_zone="edge")
    resp = site.api.post(f"/v2.1/servers/{sid}/action", json={"resize": {"flavorRef": "huge"}})
    assert resp.status_code == 202
    assert _server(site, sid, site.api)["status"] == "ACTIVE"
    with models.database.connection_context():
        assert "not enough room" in Instance.get_by_id(sid).fault["message"]
    assert site.api.post(f"/v2.1/servers/{sid}/action", json={"resize": {"flavorRef": "1"}}).status_code == 202
    assert _server(site, sid)["status"] == "VERIFY_RESIZE"
    with models.database.connection_context():
        assert Allocation.get(Allocation.instance_id == sid).memory_mb == 512


def test_two_workers_registering_one_node_at_once(db, monkeypatch):
    """The second worker's create loses to the first one's row: it refreshes that row instead of failing."""
    scheduler.register("n00", caps("n00"), {})
    real = ComputeNode.get_or_none
    calls = []

    def first_misses(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)
    monkeypatch.setattr(ComputeNode, "get_or_none", first_misses)
    row = scheduler.register("n00", caps("n00", memory_mb=GIB), {"availability_zone": "edge"})
    monkeypatch.undo()
    assert len(calls) == 2 and row.memory_mb == GIB and ComputeNode.select().count() == 1
    assert ComputeNode.get(ComputeNode.host == "n00").availability_zone == "edge"
