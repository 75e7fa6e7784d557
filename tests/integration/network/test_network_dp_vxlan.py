"""A tenant VXLAN network across two nodes: each node a namespace whose data plane the real Linux driver builds
(in its own process, inside the namespace), the other node its only peer; one VM port per node."""
from __future__ import annotations

import json
import os
import secrets
import time

import pytest

from appliance.cluster import membership
from appliance.testing.plugin import make_settings
from services.network.drivers import base, names
from services.network.drivers.remote import RemoteNetworkDriver
from services.network.nodes import SiteDataPlane
from tests.contract.compute.remote_support import make_site
from vxlan_nodes import AGENT_PORT, NodeAgent, TwoNodes, sh


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("integration tests need root for namespaces (the build machines run them as root)")
    tag = "eg" + secrets.token_hex(2)
    nodes = TwoNodes(tag, tmp_path_factory.mktemp("vxlan"), vni=40000 + int(tag[2:], 16) % 5000)
    yield nodes
    nodes.close()
    leftovers = [n for n in sh("ip", "netns", "list").stdout.split() if n.startswith(tag)]
    assert leftovers == [], f"leaked namespaces: {leftovers}"


def _vx(two, node) -> dict:
    return json.loads(node.run("ip", "-j", "-d", "link", "show", names.vxlan(two.network.id)).stdout)[0]


def _fdb(node, device) -> list[str]:
    return [line for line in node.run("bridge", "fdb", "show", "dev", device).stdout.splitlines() if " dst " in line]


def test_ports_on_two_nodes_ping_each_other_both_ways(two):
    n1, n2 = two.nodes
    vm1, vm2 = two.vms
    first, second = two.apply()
    device = names.vxlan(two.network.id)
    assert first["vxlan_peers"] == {device: [n2.ip]} and second["vxlan_peers"] == {device: [n1.ip]}
    assert vm1.ping(vm2.ip) and vm2.ping(vm1.ip)
    # the frames really crossed the underlay as VXLAN: each node learned the other VM's MAC behind the other VTEP
    assert any(line.startswith(vm2.port.mac) and f"dst {n2.ip}" in line for line in _fdb(n1, device))
    assert any(line.startswith(vm1.port.mac) and f"dst {n1.ip}" in line for line in _fdb(n2, device))


def test_broadcast_arp_is_replicated_to_the_peer(two):
    vm1, vm2 = two.vms
    two.apply()
    for vm in two.vms:
        vm.run("ip", "neigh", "flush", "dev", "eth0")
    assert vm1.run("arping", "-c", "1", "-w", "3", "-I", "eth0", vm2.ip, check=False).returncode == 0
    assert vm2.run("arping", "-c", "1", "-w", "3", "-I", "eth0", vm1.ip, check=False).returncode == 0


def test_the_mtu_leaves_room_for_the_vxlan_header(two):
    n1, _ = two.nodes
    vm1, vm2 = two.vms
    two.apply()
    assert _vx(two, n1)["mtu"] == 1450 and two.network.mtu == 1450
    assert vm1.ping(vm2.ip, size=1450 - 28)               # a full-size tenant packet, DF set, crosses unfragmented
    n1.run("ip", "link", "set", "u1", "mtu", "1400")      # an underlay too small for the network's MTU is named
    try:
        with pytest.raises(RuntimeError, match="exceeds the underlay's MTU 1400"):
            n1.apply(two.topology(n1, [two.nodes[1].ip]))
    finally:
        n1.run("ip", "link", "set", "u1", "mtu", "1500")


def test_removing_the_peer_stops_the_traffic(two):
    vm1, vm2 = two.vms
    two.apply()
    assert vm1.ping(vm2.ip)
    device = names.vxlan(two.network.id)
    # node 1 drops node 2 (it left the site) while node 2 still sends: its frames are dropped before decapsulation
    first, second = two.apply({0: [], 1: [two.nodes[0].ip]})
    assert first["vxlan_peers"] == {device: []} and second["vxlan_peers"] == {device: [two.nodes[0].ip]}
    assert _fdb(two.nodes[0], device) == []                # learned entries towards it went too
    assert not vm1.ping(vm2.ip, count=2) and not vm2.ping(vm1.ip, count=1)
    two.apply()
    assert vm1.ping(vm2.ip, count=3)


def test_a_restarted_driver_keeps_it_working_and_repairs_drift(two):
    n1, n2 = two.nodes
    vm1, vm2 = two.vms
    two.apply()
    before = _vx(two, n1)["ifindex"]
    device = names.vxlan(two.network.id)
    n1.start()                                              # a new driver process: it knows only the kernel
    n1.run("bridge", "fdb", "del", "00:00:00:00:00:00", "dev", device, "dst", n2.ip)   # someone removed the entry
    vtep_table = f"{two.tag}a_vtep"
    n1.run("nft", "delete", "table", "inet", vtep_table)    # ... and the VTEP filter
    assert n1.apply(two.topology(n1, [n2.ip]))["vxlan_peers"] == {device: [n2.ip]}
    assert any(line.startswith("00:00:00:00:00:00") and f"dst {n2.ip}" in line for line in _fdb(n1, device))
    assert f"{n2.ip} " in n1.run("nft", "list", "table", "inet", vtep_table).stdout
    assert _vx(two, n1)["ifindex"] == before                # repaired in place, not rebuilt
    for vm in two.vms:
        vm.run("ip", "neigh", "flush", "dev", "eth0")
    assert vm1.ping(vm2.ip) and vm2.ping(vm1.ip)


def test_the_control_plane_drives_both_nodes_through_their_agents(two, tmp_path):
    """The site's control plane (here the root namespace) reaches each node's real network agent (its unit's
    gunicorn, HTTPS with mTLS, the Linux driver inside the node) and gives each its part of the site's topology:
    its own VM port and the network it sits on, the other node as its VTEP peer. A node whose agent dies is
    reported and skipped in seconds; the other keeps converging."""
    n1, n2 = two.nodes[:2]
    vm1, vm2 = two.vms[:2]
    site = make_site(tmp_path / "site")
    control = make_settings(tmp_path / "control")
    membership.state_dir(control).mkdir(parents=True)
    membership.write_json(membership.site_file(control), {"site": "lab", "role": "founder", "node": "n1"})
    membership.members_file(control).write_text(json.dumps([
        {"name": "n1", "address": f"{n1.ip}:8120", "founder": True, "status": "online"},
        {"name": "n2", "address": f"{n2.ip}:8120", "founder": False, "status": "online"}]))

    def reach(settings, name, host):
        return RemoteNetworkDriver(name, f"{host}:{AGENT_PORT}", site.ca.cert_pem, site.cert("control"))

    agents = []
    try:
        agents += [NodeAgent(two, 0, site, "n1", "control"), NodeAgent(two, 1, site, "n2", "control")]
        founder = reach(control, "n1", n1.ip)     # the founder's own data plane, here also behind its agent
        plane = SiteDataPlane(control, lambda: founder, remote_factory=reach)
        topology = base.Topology(networks=[two.network], ports=[vm1.port, vm2.port])
        bindings = {vm1.port.id: "n1", vm2.port.id: "n2"}
        plane.apply(topology, bindings, verify=True)
        assert plane.failures == {}
        device = names.vxlan(two.network.id)
        assert founder.vxlan_peers() == {device: [n2.ip]}
        assert plane.driver_for(plane.nodes()[1]).vxlan_peers() == {device: [n1.ip]}
        assert founder.prefix == f"{two.tag}a"                    # the node's own prefix, asked of its agent
        for vm in (vm1, vm2):
            vm.run("ip", "neigh", "flush", "dev", "eth0")
        assert vm1.ping(vm2.ip) and vm2.ping(vm1.ip)
        assert plane.port_states({"n1": [vm1.port.tap], "n2": [vm2.port.tap]}) == {vm1.port.tap: True,
                                                                                   vm2.port.tap: True}
        agents[1].stop()                                          # node 2's agent dies
        started = time.monotonic()
        plane.apply(topology, bindings, verify=False)
        assert time.monotonic() - started < 10
        assert "Network node 'n2'" in plane.failures["n2"] and "n1" not in plane.failures
        assert plane.port_states({"n1": [vm1.port.tap], "n2": [vm2.port.tap]}) == {vm1.port.tap: True}
        assert vm1.ping(vm2.ip)                                   # the data plane itself runs on without it
    finally:
        for agent in agents:
            agent.close()


def test_a_third_node_on_the_same_machine_keeps_apart_and_joins_the_network(two):
    """Node 3 shares node 1's namespace (two nodes on one machine): its node tag keeps its links apart, its own
    VXLAN port keeps its VTEP apart; every node floods to the two others (head-end replication to two peers)."""
    n1, n2 = two.nodes[:2]
    n3 = two.add_node_beside(0, node_tag="c", port=4790)
    replies = two.apply()
    device = names.vxlan(two.network.id)
    assert replies[0]["vxlan_peers"] == {device: ["10.77.0.1:4790", n2.ip]}
    assert replies[2]["prefix"] == replies[0]["prefix"] + "c"
    assert replies[2]["vxlan_peers"] == {names.vxlan(two.network.id, "c"): ["10.77.0.1:4789", "10.77.0.2:4789"]}
    assert replies[2]["inventory"]["bridges"] == [names.bridge(two.network.id, "c")]
    assert replies[0]["inventory"]["bridges"] == [two.network.bridge]
    # a learned MAC would be sent to the learner's own port: with a peer on another port, unicast floods instead
    assert not json.loads(n3.run("ip", "-j", "-d", "link", "show", names.vxlan(two.network.id, "c")).stdout)[0][
        "linkinfo"]["info_data"]["learning"]
    vm1, vm2, vm3 = two.vms
    for vm in two.vms:
        vm.run("ip", "neigh", "flush", "dev", "eth0")
    assert vm3.ping(vm1.ip) and vm1.ping(vm3.ip)            # two nodes on one machine
    assert vm3.ping(vm2.ip) and vm2.ping(vm3.ip)            # across the underlay
    assert vm1.ping(vm2.ip)
