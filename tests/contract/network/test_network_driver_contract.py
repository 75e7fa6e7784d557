"""One contract suite for the network data-plane drivers: the fake and the real Linux driver, each also through the
remote driver (RemoteNetworkDriver -> a network agent over real HTTPS with mTLS on 127.0.0.1 -> the fake or Linux)."""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import uuid

import pytest

from appliance.testing.plugin import make_settings
from services.network import tsn
from services.network.drivers import base, names
from tests.contract.network.network_remote_support import NetworkAgentServer, make_site, remote


def _uid():
    return str(uuid.uuid4())


class Plugger:
    """Plays the hypervisor: puts a VM tap on a bridge (the fake just records it)."""

    def __init__(self, driver, real):
        self.driver, self.real, self.made = driver, real, []

    def plug(self, tap, bridge, mac):
        if not self.real:
            self.driver.plug(tap)
            return
        subprocess.run(["ip", "link", "add", tap, "type", "veth", "peer", "name", tap[:12] + "p"], check=True)
        subprocess.run(["ip", "link", "set", tap, "address", mac, "master", bridge, "up"], check=True)
        subprocess.run(["ip", "link", "set", tap[:12] + "p", "up"], check=True)
        self.made.append(tap)

    def cleanup(self):
        for tap in self.made:
            subprocess.run(["ip", "link", "del", tap], capture_output=True)


@pytest.fixture(scope="module")
def agent_site(tmp_path_factory):
    """One throwaway site CA per module: the remote kinds' agents serve with its certificates."""
    return make_site(tmp_path_factory.mktemp("site"))


@pytest.fixture(params=["fake", "linux", "remote-fake", "remote-linux"])
def driver(request, tmp_path):
    prefix = "eg" + secrets.token_hex(2)
    drv = _make(request.param, tmp_path / "state", prefix, request=request)
    # the hypervisor plugs taps on the node: through a remote driver that is the agent's driver
    plugger = Plugger(getattr(drv, "node_driver", drv), request.param.endswith("linux"))
    drv.plugger = plugger
    yield drv
    plugger.cleanup()
    drv.teardown()


def _make(kind, state_dir, prefix, request=None, **network):
    if kind.startswith("remote-"):
        local = _make(kind.removeprefix("remote-"), state_dir, prefix, **network)
        server = NetworkAgentServer(request.getfixturevalue("agent_site"), local)
        request.addfinalizer(server.stop)
        drv = remote(request.getfixturevalue("agent_site"), server.address)
        drv.node_driver = local
        return drv
    settings = make_settings(state_dir, service={"network": {
        "prefix": prefix, "external_upstream": {"physical_network": "public", "cidr": "203.0.113.1/24"},
        "vxlan_local_ip": "127.0.0.1", **network}})
    if kind == "fake":
        from services.network.drivers.fake import FakeDriver
        return FakeDriver(settings)
    if os.geteuid() != 0:
        pytest.skip("the Linux driver needs root (CAP_NET_ADMIN), as on the build machines")
    from services.network.drivers.linux import LinuxDriver
    return LinuxDriver(settings)


def _topology(prefix, with_router=True, with_port=True, ids=None):
    ids = ids or {k: _uid() for k in ("net", "ext", "dhcp", "router", "rif", "gw", "port", "sub", "esub")}
    net = base.NetSpec(id=ids["net"], bridge=names.bridge(ids["net"]), network_type="vxlan", physical_network=None,
                       segmentation_id=int(ids["net"][:4], 16) % 4000 + 20000, mtu=1450)
    ext = base.NetSpec(id=ids["ext"], bridge=names.bridge(ids["ext"]), network_type="flat", physical_network="public",
                       segmentation_id=None, mtu=1500, external=True)
    topo = base.Topology(networks=[net, ext])
    sub = base.SubnetSpec(id=ids["sub"], cidr="10.40.0.0/24", ip_version=4, gateway_ip="10.40.0.1",
                          dns_nameservers=[], host_routes=[], mtu=1450)
    hosts = [base.DhcpHost(mac="fa:16:3e:00:00:05", ip="10.40.0.5", hostname="vm1", device_id="vm-1")] \
        if with_port else []
    topo.dhcp.append(base.DhcpSpec(network_id=net.id, netns=names.dhcp_netns(prefix, net.id),
                                   iface=base.Iface(ids["dhcp"], names.tap(ids["dhcp"]), names.dhcp_inner(ids["dhcp"]),
                                                    "fa:16:3e:00:00:02", net.bridge, ["10.40.0.2/24"]),
                                   subnets=[sub], hosts=hosts))
    if with_router:
        topo.routers.append(base.RouterSpec(
            id=ids["router"], netns=names.router_netns(prefix, ids["router"]),
            interfaces=[base.Iface(ids["rif"], names.tap(ids["rif"]), names.router_inner(ids["rif"]),
                                   "fa:16:3e:00:00:01", net.bridge, ["10.40.0.1/24"])],
            gateway=base.Iface(ids["gw"], names.tap(ids["gw"]), names.gateway_inner(ids["gw"]), "fa:16:3e:00:01:0a",
                               ext.bridge, ["203.0.113.10/24"]),
            gateway_nexthop="203.0.113.1", internal_cidrs=["10.40.0.0/24"],
            floating_ips=[("203.0.113.11", "10.40.0.5")] if with_port else []))
    if with_port:
        topo.ports.append(base.PortSpec(
            id=ids["port"], tap=names.tap(ids["port"]), bridge=net.bridge, mac="fa:16:3e:00:00:05", ips=["10.40.0.5"],
            rules=[base.SgRule("ingress", "IPv4", "tcp", 22, 22, None),
                   base.SgRule("egress", "IPv4", None, None, None, None)],
            ingress_kbps=8000, ingress_burst_kbps=800, dscp_mark=46))
    return topo, ids


def test_apply_builds_everything_and_is_idempotent(driver):
    topo, ids = _topology(driver.prefix)
    driver.apply(topo)
    port = topo.ports[0]
    assert driver.port_states([port.tap]) == {port.tap: False}
    driver.plugger.plug(port.tap, port.bridge, port.mac)
    driver.apply(topo)
    inv = driver.inventory()
    assert inv["bridges"] == sorted([names.bridge(ids["net"]), names.bridge(ids["ext"])])
    assert inv["netns"] == sorted([names.dhcp_netns(driver.prefix, ids["net"]),
                                   names.router_netns(driver.prefix, ids["router"])])
    assert inv["dhcp"] == [ids["net"]]
    assert inv["nft_tables"] == [names.sg_table(driver.prefix)]
    assert inv["filtered_taps"] == [port.tap]
    assert inv["qos_taps"] == [port.tap]
    assert inv["marked_taps"] == [port.tap]
    assert inv["floating_ips"] == ["203.0.113.11"]
    assert driver.port_states([port.tap, "tapdoesnotexist"]) == {port.tap: True, "tapdoesnotexist": False}
    driver.apply(topo)
    assert driver.inventory() == inv


def test_apply_removes_what_is_gone(driver):
    topo, ids = _topology(driver.prefix)
    driver.apply(topo)
    smaller, _ = _topology(driver.prefix, with_router=False, with_port=False, ids=ids)
    driver.apply(smaller)
    inv = driver.inventory()
    assert inv["netns"] == [names.dhcp_netns(driver.prefix, ids["net"])]
    assert inv["nft_tables"] == [] and inv["filtered_taps"] == [] and inv["floating_ips"] == []
    assert inv["marked_taps"] == []
    assert inv["dhcp"] == [ids["net"]]
    driver.apply(base.Topology())
    assert driver.inventory() == {"bridges": [], "netns": [], "dhcp": [], "nft_tables": [], "filtered_taps": [],
                                  "qos_taps": [], "marked_taps": [], "floating_ips": [], "tsn_interfaces": []}
    assert driver.vxlan_peers() == {}


def test_tsn_schedule_on_the_physical_interface(driver):
    """A flat network's schedule is held by its physical interface (a veth with 8 queues on the Linux kinds);
    one the NIC cannot hold is refused by field and the running one stays; no schedule, no TSN qdisc."""
    node = getattr(driver, "node_driver", driver)
    if hasattr(node, "tsn_supported") and not node.tsn_supported():
        pytest.skip("no taprio/mqprio/etf/cbs on this kernel (DESIGN.md §9); tested inside the appliance image")
    topo, ids = _networks_only(driver.prefix)
    driver.apply(topo)
    assert driver.tx_queues("public") == 8 and driver.tx_queues("nowhere") is None
    uplink = node.mappings["public"]
    ext = next(n for n in topo.networks if n.id == ids["ext"])
    ext.tsn = tsn.normalize({"qdisc": "mqprio", "num_tc": 2, "queues": [{"count": 4, "offset": 0},
                                                                         {"count": 4, "offset": 4}]}, 8)
    driver.apply(topo)
    assert driver.inventory()["tsn_interfaces"] == [uplink]
    ext.tsn = tsn.normalize({**ext.tsn, "queues": [{"count": 4, "offset": 0}, {"count": 4, "offset": 6}]}, None)
    with pytest.raises(RuntimeError, match=r"tsn:schedule\.queues\[1\]: queues 6-9 exceed the NIC's 8"):
        driver.apply(topo)
    assert driver.inventory()["tsn_interfaces"] == [uplink]
    ext.tsn = None
    driver.apply(topo)
    assert driver.inventory()["tsn_interfaces"] == []


def _networks_only(prefix, ids=None):
    topo, ids = _topology(prefix, with_router=False, with_port=False, ids=ids)
    topo.dhcp = []          # the flood lists need no dnsmasq (and these tests stay fast)
    return topo, ids


def test_vxlan_flood_list_follows_the_peers(driver):
    """Head-end replication: one flood entry per other node; this node's own VTEP (127.0.0.1) is skipped."""
    topo, ids = _networks_only(driver.prefix)
    vx = names.vxlan(ids["net"])
    topo.vxlan_peers = ["192.0.2.7", "192.0.2.8:4790", "127.0.0.1", "192.0.2.7"]
    driver.apply(topo)
    assert driver.vxlan_peers() == {vx: ["192.0.2.7", "192.0.2.8:4790"]}     # the flat network floods nowhere
    topo.vxlan_peers = ["192.0.2.8:4790", "192.0.2.9"]                      # .7 left the site, .9 joined
    driver.apply(topo, verify=False)
    assert driver.vxlan_peers() == {vx: ["192.0.2.8:4790", "192.0.2.9"]}
    topo.vxlan_peers = []
    driver.apply(topo)
    assert driver.vxlan_peers() == {vx: []}


def test_a_bad_peer_is_refused_by_name_and_the_rest_converges(driver):
    topo, ids = _networks_only(driver.prefix)
    vx = names.vxlan(ids["net"])
    topo.vxlan_peers = ["192.0.2.7"]
    driver.apply(topo)
    bad = "192.0.2.1; rm -rf /"             # the spellings refused are in tests/unit/network/test_network_vxlan.py
    topo.vxlan_peers = ["192.0.2.8", bad]
    with pytest.raises(RuntimeError, match=re.escape(repr(bad))):
        driver.apply(topo, verify=False)
    assert driver.vxlan_peers() == {vx: ["192.0.2.7"]}                      # untouched until the list is fixed
    assert driver.inventory()["bridges"] == sorted(names.bridge(i) for i in (ids["net"], ids["ext"]))


def test_node_tag_keeps_two_nodes_on_one_machine_apart(driver, request, tmp_path):
    """Two nodes of one site on one machine get the same topology: their links and namespaces never collide."""
    kind = request.node.callspec.params["driver"]
    other = _make(kind, tmp_path / "other", driver.prefix, request=request, node_tag="b", vxlan_port=4790)
    try:
        topo, ids = _topology(driver.prefix, with_router=False, with_port=False)
        topo.vxlan_peers = ["127.0.0.1:4790", "127.0.0.1"]                   # the member list holds this node too
        driver.apply(topo)
        theirs, _ = _topology(other.prefix, with_router=False, with_port=False, ids=ids)
        theirs.vxlan_peers = ["127.0.0.1:4789", "127.0.0.1"]                  # a bare address: this node's port
        other.apply(theirs)
        assert other.prefix == driver.prefix + "b"
        assert other.inventory()["bridges"] == sorted(names.bridge(i, "b") for i in (ids["net"], ids["ext"]))
        assert other.inventory()["netns"] == [names.dhcp_netns(driver.prefix + "b", ids["net"])]
        assert other.vxlan_peers() == {names.vxlan(ids["net"], "b"): ["127.0.0.1:4789"]}
        assert driver.vxlan_peers() == {names.vxlan(ids["net"]): ["127.0.0.1:4790"]}
        mine = driver.inventory()
        other.teardown()
        assert driver.inventory() == mine
    finally:
        other.teardown()
