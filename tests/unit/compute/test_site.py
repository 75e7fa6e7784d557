"""The control plane's node registry follows the site's members file (services/compute/site.py): drivers, rows,
down/up, one bad node never stops a round, stale guests destroyed on return, a real RemoteDriver to a real agent."""
from __future__ import annotations

import json

import pytest

from appliance.cluster import membership
from appliance.testing.plugin import make_settings
from services.compute import models, site
from services.compute.drivers import codec
from services.compute.drivers.fake import FakeDriver
from services.compute.drivers.specs import DriverError, HostCaps, placement_of
from services.compute.models import ComputeNode, Instance
from services.compute.node import Node
from tests.contract.compute.remote_support import AgentServer, Site

FOUNDER = "boss"


def caps(host, cpus=8):
    return HostCaps(domain_type="fake", domain_type_reason="fake driver", hostname=host, cpus=cpus,
                    memory_mb=8192, numa_nodes=1, disk_gb=100)


class Flaky(FakeDriver):
    """A node whose agent does not answer while `down` is set (what a RemoteDriver raises then)."""

    down = False

    def list_domains(self):
        if self.down:
            raise DriverError("Compute node 'node2' (10.0.0.2:8121) cannot be reached (refused).")
        return super().list_domains()


def _site_files(settings, role="founder"):
    settings.service.setdefault("cluster", {})["node_name"] = FOUNDER
    membership.state_dir(settings).mkdir(parents=True, exist_ok=True)
    membership.write_json(membership.site_file(settings), {"site": "edge", "role": role, "node": FOUNDER,
                                                           "seeds": ["127.0.0.1:8120"]})


def member(name, status="online", address=None, founder=False):
    return {"name": name, "address": address or f"10.0.0.{name[-1]}:8120", "founder": founder, "status": status,
            "last_seen": "2026-12-02T23:00:00Z"}


@pytest.fixture
def world(env, tmp_path):
    _site_files(env.settings)
    env.nodes = {n: Flaky(prefix="egunit-", caps=caps(n), instances_dir=tmp_path / n) for n in ("node1", "node2")}
    env.asked = []

    def factory(name, host):
        env.asked.append((name, host))
        return env.nodes[name]
    env.factory = factory
    env.node = env.manager.node

    def sync(*members):
        return site.sync(env.node, [member(FOUNDER, founder=True), *members], env.settings, factory)
    env.sync = sync
    return env


def rows():
    with models.database.connection_context():
        return {n.host: n for n in ComputeNode.select()}


def test_a_member_or_standalone_box_registers_nothing(world):
    for role in ("member", None):
        if role:
            _site_files(world.settings, role)
        else:
            membership.site_file(world.settings).unlink()
        assert world.sync(member("node1")) == {}
        assert set(world.node.drivers()) == {world.node.host} and "node1" not in rows()


def test_members_become_nodes_and_follow_their_status(world):
    report = world.sync(member("node1"), member("node2", address="[fd00::2]:8120"))
    assert sorted(report["registered"]) == sorted(report["up"]) == ["node1", "node2"]
    # the driver is built for the host without the port (the agent has its own), brackets off an IPv6 one
    assert sorted(world.asked) == [("node1", "10.0.0.1"), ("node2", "fd00::2")]
    assert world.node.drivers()["node1"] is world.nodes["node1"]
    found = rows()
    assert found["node2"].address == "[fd00::2]:8120" and found["node1"].vcpus == 8 and found["node1"].state == "up"
    hyps = {h["hypervisor_hostname"]: h for h in world.admin.get("/v2.1/os-hypervisors/detail").json["hypervisors"]}
    assert hyps["node1"]["state"] == "up"

    # a second round changes nothing and builds no driver again
    again = world.sync(member("node1"), member("node2", address="[fd00::2]:8120"))
    assert not any(again[k] for k in ("registered", "up", "down")) and len(world.asked) == 2

    # node1 goes offline: down (os-hypervisors, os-services); online again: up, with a fresh driver
    assert world.sync(member("node1", "offline"), member("node2", address="[fd00::2]:8120"))["down"] == ["node1"]
    assert rows()["node1"].state == "down"
    services = {s["host"]: s for s in world.admin.get("/v2.1/os-services").json["services"]}
    assert services["node1"]["state"] == "down" and services["node2"]["state"] == "up"
    back = world.sync(member("node1"), member("node2", address="[fd00::2]:8120"))
    assert back["up"] == ["node1"] and back["registered"] == ["node1"] and rows()["node1"].state == "up"


def test_an_admins_force_down_of_an_online_node_holds(world):
    world.sync(member("node1"))
    sid = {s["host"]: s["id"] for s in world.admin.get("/v2.1/os-services", version="2.53").json["services"]}["node1"]
    resp = world.admin.put(f"/v2.1/os-services/{sid}", json={"forced_down": True}, version="2.53")
    assert resp.status_code == 200, resp.json
    world.sync(member("node1"))
    assert rows()["node1"].state == "down"
    # it is kept apart from the heartbeats: the node goes offline and comes back, and stays down (fenced)
    world.sync(member("node1", "offline"))
    back = world.sync(member("node1"))
    assert back["registered"] == ["node1"] and rows()["node1"].state == "down"
    service = {s["host"]: s for s in world.admin.get("/v2.1/os-services", version="2.53").json["services"]}["node1"]
    assert service["forced_down"] is True and service["state"] == "down"
    # until the admin lifts it: up again, and the heartbeats decide from then on
    resp = world.admin.put(f"/v2.1/os-services/{sid}", json={"forced_down": False}, version="2.53")
    assert resp.status_code == 200 and resp.json["service"]["forced_down"] is False
    assert resp.json["service"]["state"] == "up"
    assert world.sync(member("node1", "offline"))["down"] == ["node1"]
    assert world.sync(member("node1"))["up"] == ["node1"] and rows()["node1"].state == "up"


def test_a_running_nodes_capacity_is_asked_again_each_interval_and_its_state_kept(world):
    now = [1000.0]
    site._registry(world.node, world.settings, world.factory).clock = lambda: now[0]
    world.node.section["capacity_refresh_interval"] = 300
    world.sync(member("node1"))
    assert rows()["node1"].hugepages == {}
    # huge pages reserved on the running node, and an admin forces it down
    world.nodes["node1"].caps.hugepages = {2048: 512}
    sid = {s["host"]: s["id"] for s in world.admin.get("/v2.1/os-services", version="2.53").json["services"]}["node1"]
    assert world.admin.put(f"/v2.1/os-services/{sid}", json={"forced_down": True},
                           version="2.53").status_code == 200
    now[0] += 299
    assert world.sync(member("node1"))["refreshed"] == [] and rows()["node1"].hugepages == {}
    now[0] += 1
    assert world.sync(member("node1"))["refreshed"] == ["node1"]
    assert rows()["node1"].hugepages == {"2048": 512} and rows()["node1"].state == "down"
    # the next interval starts from that refresh
    now[0] += 10
    assert world.sync(member("node1"))["refreshed"] == []


def test_a_nodes_own_zone_and_ratios_win_over_the_control_planes(world):
    world.node.section["cpu_allocation_ratio"] = 16.0
    world.nodes["node1"].caps.placement = placement_of({"availability_zone": "edge-b", "cpu_allocation_ratio": "2",
                                                        "ram_allocation_ratio": "lots", "disk_allocation_ratio": -1})
    world.sync(member("node1"), member("node2"))
    node1, node2 = rows()["node1"], rows()["node2"]
    assert (node1.availability_zone, node1.cpu_allocation_ratio) == ("edge-b", 2.0)
    # what the node's settings do not (validly) say comes from the control plane's
    assert (node1.ram_allocation_ratio, node1.disk_allocation_ratio) == (1.5, 1.0)
    assert (node2.availability_zone, node2.cpu_allocation_ratio) == ("nova", 16.0)
    zones = {z["zoneName"] for z in world.admin.get("/v2.1/os-availability-zone").json["availabilityZoneInfo"]}
    assert {"edge-b", "nova"} <= zones
    # a user can ask for the node's zone
    sid = world.boot(availability_zone="edge-b")
    assert world.admin.get(f"/v2.1/servers/{sid}").json["server"]["OS-EXT-SRV-ATTR:host"] == "node1"


def test_an_unreachable_agent_is_down_and_does_not_stop_the_round(world):
    world.nodes["node1"].down = True
    report = world.sync(member("node1"), member("node2"))
    assert "cannot be reached" in report["errors"]["node1"] and report["down"] == ["node1"]
    assert report["up"] == ["node2"]
    assert "node1" not in rows() and rows()["node2"].state == "up"
    # a member whose address is garbage is one more bad node, not a failed round
    bad = world.sync(member("node1"), member("node2"), member("node3", address="nowhere"))
    assert "host:port" in bad["errors"]["node3"] and "node1" in bad["errors"]
    # retried next round: the agent answers again, the node is registered and up
    world.nodes["node1"].down = False
    assert world.sync(member("node1"), member("node2"))["up"] == ["node1"]
    assert rows()["node1"].state == "up"


def test_a_removed_member_loses_its_driver_and_keeps_its_row_down(world):
    world.sync(member("node1"), member("node2"))
    report = world.sync(member("node2"))
    assert report["removed"] == ["node1"] and "node1" in report["down"]
    assert "node1" not in world.node.drivers() and rows()["node1"].state == "down"
    # an empty list (the founder's unit has not written it yet) takes nothing down
    assert site.sync(world.node, [], world.settings, world.factory)["down"] == []
    assert rows()["node2"].state == "up"


def _boot_on(world, host, name):
    resp = world.admin.post("/v2.1/servers", json=world.server_body(name=name, availability_zone=f"nova:{host}"))
    assert resp.status_code == 202, resp.json
    sid = resp.json["server"]["id"]
    server = world.admin.get(f"/v2.1/servers/{sid}").json["server"]
    assert server["OS-EXT-SRV-ATTR:host"] == host and server["status"] == "ACTIVE", server
    return sid


def test_servers_on_a_down_node_show_it(world):
    world.sync(member("node1"), member("node2"))
    sid = _boot_on(world, "node1", "vm-down")
    before = world.admin.get(f"/v2.1/servers/{sid}", version="2.16").json["server"]
    assert before["host_status"] == "UP"
    world.sync(member("node1", "offline"), member("node2"))
    after = world.admin.get(f"/v2.1/servers/{sid}", version="2.16").json["server"]
    assert after["host_status"] == "DOWN" and after["OS-EXT-STS:power_state"] == before["OS-EXT-STS:power_state"]
    assert "host_status" not in world.admin.get(f"/v2.1/servers/{sid}", version="2.15").json["server"]
    # the power-state sync leaves a down node alone (it would wait on every server's call)
    world.nodes["node1"].domains.clear()
    world.manager.sync_power_states()
    assert world.admin.get(f"/v2.1/servers/{sid}").json["server"]["OS-EXT-STS:power_state"] == 1


def test_a_returning_node_destroys_what_was_evacuated_or_deleted(world):
    world.sync(member("node1"), member("node2"))
    moved, deleted, kept = (_boot_on(world, "node1", n) for n in ("moved", "deleted", "kept"))
    node1 = world.nodes["node1"]
    with models.database.connection_context():
        domains = {i.id: i.domain_name for i in Instance.select()}
    assert set(node1.list_domains()) == set(domains.values())
    world.sync(member("node1", "offline"), member("node2"))
    # while node1 was down: one server was evacuated to node2, one deleted (the API could not reach node1)
    with models.database.connection_context():
        Instance.update(host="node2").where(Instance.id == moved).execute()
        Instance.update(deleted=True, vm_state="deleted").where(Instance.id == deleted).execute()
    node1.domains["egunit-stranger"] = {"xml": "", "state": 1, "log": None, "saved": False}
    assert (node1.files.root / moved).is_dir()

    report = world.sync(member("node1"), member("node2"))
    assert sorted(report["destroyed"]) == sorted([domains[moved], domains[deleted]]) and report["up"] == ["node1"]
    # what still belongs to node1 stays, and a domain the site does not know is not destroyed
    assert node1.list_domains() == sorted([domains[kept], "egunit-stranger"])
    assert not (node1.files.root / moved).exists() and not (node1.files.root / deleted).exists()
    assert (node1.files.root / kept).is_dir()
    # only on the return: the next round destroys nothing
    assert world.sync(member("node1"), member("node2"))["destroyed"] == []


def test_nodes_with_their_own_prefixes_name_and_sweep_domains_by_server_id(world):
    """A site's nodes may name domains differently (two nodes sharing one libvirtd must): a server's domain takes
    its node's prefix, and a returning node finds a server moved away by its id, whatever the row now names."""
    world.nodes["node2"].prefix = "egtwo-"
    world.sync(member("node1"), member("node2"))
    on1, on2 = _boot_on(world, "node1", "one"), _boot_on(world, "node2", "two")
    assert world.nodes["node1"].list_domains() == [f"egunit-{on1}"]
    assert world.nodes["node2"].list_domains() == [f"egtwo-{on2}"]
    world.sync(member("node1", "offline"), member("node2"))
    with models.database.connection_context():   # evacuated to node2 while node1 was down, renamed after its prefix
        Instance.update(host="node2", domain_name=f"egtwo-{on1}").where(Instance.id == on1).execute()
    report = world.sync(member("node1"), member("node2"))
    assert report["destroyed"] == [f"egunit-{on1}"] and world.nodes["node1"].list_domains() == []


def test_a_resized_server_keeps_its_source_domain(world):
    world.sync(member("node1"), member("node2"))
    sid = _boot_on(world, "node1", "resizing")
    world.sync(member("node1", "offline"), member("node2"))
    with models.database.connection_context():
        Instance.update(host="node2", vm_state="resized").where(Instance.id == sid).execute()
    assert world.sync(member("node1"), member("node2"))["destroyed"] == []
    assert len(world.nodes["node1"].list_domains()) == 1


def test_a_real_remote_driver_to_a_real_agent(world, tmp_path):
    """The default factory (RemoteDriver.for_node with the founder's own node certificate) to an agent over HTTPS
    with mTLS; then the agent stops and the node goes down."""
    settings = world.settings
    ca = membership.box_ca(settings)
    membership.prepare_tls(settings)     # the founder's certificate from its CA, as the cluster unit serves it
    node3 = FakeDriver(prefix="egunit-", caps=caps("node3", cpus=3))
    agent = AgentServer(Site(tmp_path / "site", ca, ca), node3, allowed=(FOUNDER,))
    try:
        settings.ports["compute_agent"] = agent.port
        report = site.sync(world.node, [member(FOUNDER, founder=True), member("node3", address="127.0.0.1:8120")],
                           settings, factory=lambda name, host: site.RemoteDriver.for_node(settings, name, host))
        assert report["up"] == ["node3"], report
        assert repr(world.node.drivers()["node3"]).startswith("RemoteDriver('node3' at 127.0.0.1:")
        assert rows()["node3"].vcpus == 3
        # the driver names domains as the node does: its prefix is the agent's driver's, asked over the wire
        node3.prefix = "egthree-"
        assert site.RemoteDriver.for_node(settings, "node3", "127.0.0.1").prefix == "egthree-"
    finally:
        agent.stop()
    report = site.sync(world.node, [member(FOUNDER, founder=True), member("node3", address="127.0.0.1:8120")],
                       settings)
    assert "node3" in report["errors"] and rows()["node3"].state == "down"



def test_every_api_process_follows_the_members_file(world):
    """A worker without the background lock: drivers from the members file (no rows), re-read once an interval."""
    settings = world.settings
    membership.prepare_tls(settings)     # the founder's node certificate, which its RemoteDrivers present
    other = Node(settings, FakeDriver(prefix="egunit-"), world.clients)
    members = [member(FOUNDER, founder=True), member("node1"), member("node2", "offline")]
    membership.write_json(membership.members_file(settings), members)
    site.follow(other, settings)
    drivers = other.drivers()
    assert sorted(drivers) == sorted([other.host, "node1", "node2"])
    assert repr(drivers["node1"]) == f"RemoteDriver('node1' at 10.0.0.1:{settings.port('compute_agent')})"
    assert "node1" not in rows()          # rows are the background loop's
    membership.write_json(membership.members_file(settings), members[:2])
    site.follow(other, settings)          # within the interval: the file is not read again
    assert "node2" in other.drivers()
    site._registries[other].followed -= site.interval(settings)
    site.follow(other, settings)
    assert "node2" not in other.drivers() and other.drivers()["node1"] is drivers["node1"]


def test_a_drivers_caps_carry_its_own_settings_placement(tmp_path):
    settings = make_settings(tmp_path / "node", service={"compute": {"availability_zone": "rack-2",
                                                                     "cpu_allocation_ratio": 4}})
    caps = FakeDriver.from_settings(settings).host_caps()
    assert caps.placement == {"availability_zone": "rack-2", "cpu_allocation_ratio": 4.0}
    # and through the agent's wire (a RemoteDriver decodes what the node's driver answered)
    assert codec.decode(json.loads(json.dumps(codec.encode(caps)))).placement == caps.placement
