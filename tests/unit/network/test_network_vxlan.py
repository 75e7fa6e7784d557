"""Cross-node VXLAN settings: peer lists, node tags, the tenant MTU derived from the underlay's."""
from __future__ import annotations

import io
import json
import re

import pytest

from appliance.testing.plugin import make_settings
from services.network import create_app
from services.network.conf import section
from services.network.drivers import base, names
from services.network.drivers.fake import FakeDriver
from services.network.drivers.linux import apply
from tests.contract.network.test_network_driver_contract import _topology
from tests.unit.network.conftest import Api


def _conf(tmp_path, **network):
    return section(make_settings(tmp_path / "state", service={"network": network}))


def test_peers_parse_to_address_and_port_without_this_node():
    peers = ["10.0.0.2", "10.0.0.3:4790", " 10.0.0.4 ", "[fd00::5]:4791", "fd00::6", "10.0.0.1", "10.0.0.1:4790"]
    assert base.vxlan_remotes(peers, "10.0.0.1", 4789) == {
        ("10.0.0.2", 4789), ("10.0.0.3", 4790), ("10.0.0.4", 4789), ("fd00::5", 4791), ("fd00::6", 4789),
        ("10.0.0.1", 4790)}                     # another node on this machine (another port) is a peer
    assert base.peer_text("10.0.0.3", 4790, 4789) == "10.0.0.3:4790"
    assert base.peer_text("fd00::5", 4791, 4789) == "[fd00::5]:4791"
    assert base.peer_text("10.0.0.2", 4789, 4789) == "10.0.0.2"


@pytest.mark.parametrize("bad", ["not-an-ip", "10.0.0.1:99999", "10.0.0.1:0", "224.0.0.1", "0.0.0.0", "::",
                                 "[fd00::1]:0", "fd00::1:4790:", "10.0.0.1; rm -rf /", "", "10.0.0.1:80:80"])
def test_a_bad_peer_is_named(bad):
    with pytest.raises(ValueError, match="vxlan_peers: " + re.escape(repr(bad))):
        base.vxlan_remotes(["10.0.0.2", bad], None, 4789)


def test_defaults_are_unchanged(tmp_path):
    conf = _conf(tmp_path)
    assert conf["node_tag"] == "" and len(conf["prefix"]) == 6
    assert conf["vxlan_mtu"] == 1450 and conf["vxlan_port"] == 4789 and conf["vxlan_peers"] == []
    assert names.bridge("0123456789abcdef") == "brq0123456789a" and names.vxlan("0123456789abcdef") == "vx-0123456789a"


def test_the_tenant_mtu_follows_the_underlay(tmp_path):
    assert _conf(tmp_path, underlay_mtu=9000)["vxlan_mtu"] == 8950
    assert _conf(tmp_path, underlay_mtu=9000, vxlan_local_ip="fd00::1")["vxlan_mtu"] == 8930     # IPv6 outer header
    assert _conf(tmp_path, vxlan_local_ip="fd00::1")["vxlan_mtu"] == 1430
    assert _conf(tmp_path, vxlan_local_ip="fd00:0::0001")["vxlan_local_ip"] == "fd00::1"
    assert _conf(tmp_path, underlay_mtu=1600, vxlan_mtu=1500)["vxlan_mtu"] == 1500
    with pytest.raises(ValueError, match="vxlan_mtu 1500: at most underlay_mtu 1500 minus"):
        _conf(tmp_path, underlay_mtu=1500, vxlan_mtu=1500)


@pytest.mark.parametrize("network,field", [
    ({"vxlan_local_ip": "somehost"}, "vxlan_local_ip"), ({"vxlan_port": 70000}, "vxlan_port"),
    ({"vxlan_port": "x"}, "vxlan_port"), ({"vxlan_peers": "10.0.0.2"}, "vxlan_peers"),
    ({"vxlan_peers": ["10.0.0.2", "bad"]}, "vxlan_peers"), ({"underlay_mtu": 500}, "underlay_mtu"),
    ({"underlay_mtu": "9000"}, "underlay_mtu"), ({"node_tag": "ABC"}, "node_tag"), ({"node_tag": "a-"}, "node_tag")])
def test_bad_settings_name_the_field(tmp_path, network, field):
    with pytest.raises(ValueError, match=f"network {field}"):
        _conf(tmp_path, **network)


def test_node_tag_extends_the_prefix_and_the_per_network_links(tmp_path):
    conf = _conf(tmp_path, prefix="egx", node_tag="b2")
    assert conf["prefix"] == "egxb2" and conf["external_upstream"]["interface"] == "egxb2ext0"
    net = "0123456789abcdef"
    assert names.bridge(net, "b2") == "brqb2012345678" and names.vxlan(net, "b2") == "vx-b2012345678"
    assert max(len(names.vlan(net, t)) for t in ("", "a", "b2")) <= 15          # IFNAMSIZ


def test_localize_renames_every_bridge_reference_once():
    net, port = "0123456789abcdef", "fedcba9876543210"
    iface = base.Iface(port, names.tap(port), names.dhcp_inner(port), "fa:16:3e:00:00:01", names.bridge(net), [])
    topo = base.Topology(networks=[base.NetSpec(net, names.bridge(net), "vxlan", None, 7, 1450)],
                         dhcp=[base.DhcpSpec(net, "x-qdhcp", iface, [], [])],
                         ports=[base.PortSpec(port, names.tap(port), names.bridge(net), "fa:16:3e:00:00:02", [])],
                         vxlan_peers=["10.0.0.2"])
    assert names.localize(topo, "") is topo
    local = names.localize(topo, "a")
    assert local.networks[0].bridge == local.dhcp[0].iface.bridge == local.ports[0].bridge == names.bridge(net, "a")
    assert local.ports[0].tap == names.tap(port) and local.vxlan_peers == ["10.0.0.2"]
    assert names.localize(local, "a") == local and topo.networks[0].bridge == names.bridge(net)


def test_the_api_uses_the_derived_mtu_and_the_driver_gets_the_peers(settings, mint_token):
    settings.fake_drivers = True
    settings.service = {"network": {"underlay_mtu": 9000, "vxlan_peers": ["10.0.0.2", "10.0.0.3:4790"]}}
    driver = FakeDriver(settings, prefix="egv")
    alice = Api(create_app(settings, driver=driver).test_client(),
                mint_token(user_id="alice", project_id="proj-a", roles=["member", "reader"]))
    net = alice.ok("POST", "/v2.0/networks", {"network": {"name": "n"}})["network"]
    assert net["mtu"] == 8950
    alice.ok("PUT", f"/v2.0/networks/{net['id']}", {"network": {"mtu": 8950}})
    code, doc = alice.put(f"/v2.0/networks/{net['id']}", {"network": {"mtu": 8951}})
    assert code == 400 and "MTU" in doc["NeutronError"]["message"]
    assert driver.topology.vxlan_peers == ["10.0.0.2", "10.0.0.3:4790"]
    assert driver.vxlan_peers() == {names.vxlan(net["id"]): ["10.0.0.2", "10.0.0.3:4790"]}


def test_a_topology_survives_the_wire():
    """What a node agent will receive: JSON and back gives the same Topology, nested specs included."""
    topo, _ = _topology("egw")
    topo.vxlan_peers = ["10.0.0.2", "[fd00::3]:4790"]
    again = base.topology_from_dict(json.loads(json.dumps(base.topology_to_dict(topo))))
    assert again == topo and isinstance(again.routers[0].floating_ips[0], tuple)


@pytest.mark.parametrize("doc,what", [("{not json", "Expecting"), ('{"networks": [{"id": "x"}]}', "topology: "),
                                      ('{"ports": [{"rules": [{"direction": "in"}]}]}', "topology: "),
                                      ('{"dhcp": [{"iface": null}]}', "topology: "), ("[1, 2]", "topology: ")])
def test_the_apply_cli_refuses_a_bad_topology_by_name(tmp_path, capsys, monkeypatch, doc, what):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "network.toml").write_text('[service.network]\nprefix = "egcli"\nexternal_upstream = {}\n')
    monkeypatch.setenv("EGRET_CONFIG_DIR", str(etc))
    assert apply.main([str(tmp_path)], stdin=io.StringIO(doc)) == 1       # refused before touching the kernel
    assert what in capsys.readouterr().err
