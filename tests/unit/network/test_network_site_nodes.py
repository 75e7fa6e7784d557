"""One cloud's data plane across a site's nodes: which node gets which ports and networks, its VTEP peers, and a
node that fails or is offline never holding the others back (services/network/nodes.py)."""
from __future__ import annotations

import pytest

from appliance.cluster import membership
from services.network import models, nodes
from services.network.drivers import base, names
from services.network.drivers.fake import FakeDriver

MEMBERS = [
    {"name": "boss", "address": "10.0.0.1:8120", "founder": True, "status": "online"},
    {"name": "n2", "address": "10.0.0.2:8120", "founder": False, "status": "online"},
    {"name": "n3", "address": "10.0.0.3:8120", "founder": False, "status": "offline"},
    {"name": "n4", "address": "[fd00::4]:8120", "founder": False, "status": "online"},
]


class Broken(FakeDriver):
    def apply(self, topology, verify=True):
        raise base.DriverError("Network node 'n4' (fd00::4:8122) cannot be reached (refused).")

    def port_states(self, taps):
        raise base.DriverError("Network node 'n4' cannot be reached.")


def _found(settings, members=MEMBERS):
    membership.state_dir(settings).mkdir(parents=True, exist_ok=True)
    membership.write_json(membership.site_file(settings), {"site": "lab", "role": "founder", "node": "boss"})
    membership.members_file(settings).write_text(__import__("json").dumps(members))


@pytest.fixture
def site(app, settings):
    """The app's box as a site's founder with three members: n2 online, n3 offline, n4 online but broken."""
    _found(settings)
    manager = app.extensions["egret.manager"]
    remotes = {"n2": FakeDriver(prefix="egn2"), "n3": FakeDriver(prefix="egn3"), "n4": Broken(prefix="egn4")}
    asked = []

    def factory(settings, name, host):
        asked.append((name, host))
        return remotes[name]
    manager.site.remote_factory = factory
    remotes["asked"] = asked
    return remotes


def _port(admin, net, host, name):
    return admin.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"], "name": name,
                                                      "binding:host_id": host}})["port"]


def test_each_node_gets_its_own_part(site, admin, alice, alice_net, driver, app):
    net, _ = alice_net
    other = alice.ok("POST", "/v2.0/networks", {"network": {"name": "unused-on-n2"}})["network"]
    router = alice.ok("POST", "/v2.0/routers", {"router": {"name": "r"}})["router"]
    alice.ok("PUT", f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": alice_net[1]["id"]})
    on_n2 = _port(admin, net, "n2", "vm-on-n2")
    on_n3 = _port(admin, net, "n3", "vm-on-n3")
    on_boss = _port(admin, net, "boss", "vm-on-boss")
    unbound = _port(admin, net, "", "unbound")
    elsewhere = _port(admin, net, "not-a-node", "bound-to-a-stranger")

    founder = driver.topology
    assert {p.id for p in founder.ports} == {on_boss["id"], unbound["id"], elsewhere["id"]}
    assert [d.network_id for d in founder.dhcp] == [net["id"]] and len(founder.routers) == 1
    assert {n.id for n in founder.networks} == {net["id"], other["id"]}
    assert founder.vxlan_peers == ["10.0.0.2", "fd00::4"]          # online nodes only, never itself

    n2 = site["n2"].topology
    assert [p.id for p in n2.ports] == [on_n2["id"]]
    assert [n.id for n in n2.networks] == [net["id"]]               # only the segments its ports sit on
    assert n2.dhcp == [] and n2.routers == []                       # DHCP, metadata, routers stay on the founder
    assert n2.vxlan_peers == ["10.0.0.1", "fd00::4"]
    # its port carries its security groups (the default group: egress anywhere, ingress from the group)
    rules = n2.ports[0].rules
    assert any(r.direction == "egress" for r in rules) and any(r.direction == "ingress" for r in rules)
    ingress = next(r for r in rules if r.direction == "ingress" and r.ethertype == "IPv4")
    assert set(ingress.remote_prefixes) >= {ip["ip_address"] for p in (on_n2, on_n3, on_boss)
                                            for ip in p["fixed_ips"]}   # group members on every node count

    assert site["n3"].applied == 0                                  # offline: never called
    assert ("n3", "10.0.0.3") not in site["asked"]
    # the offline node's port keeps its record
    assert admin.ok("GET", f"/v2.0/ports/{on_n3['id']}")["port"]["binding:host_id"] == "n3"
    assert app.extensions["egret.manager"].site.failures.keys() == {"n4"}


def test_a_failing_node_never_blocks_the_others_or_the_api(site, admin, alice_net, driver, app):
    net, _ = alice_net
    before = site["n2"].applied
    port = _port(admin, net, "n2", "vm")                             # 201 although n4's agent refuses
    assert site["n2"].applied > before and port["id"] in {p.id for p in site["n2"].topology.ports}
    failures = app.extensions["egret.manager"].site.failures
    assert "cannot be reached" in failures["n4"]
    # the next pass retries it; once its agent answers, the failure is forgotten
    site["n4"].__class__ = FakeDriver
    app.extensions["egret.manager"].sync(verify=True)
    assert "n4" not in failures and site["n4"].topology.vxlan_peers == ["10.0.0.1", "10.0.0.2"]


def test_the_founders_own_failure_is_still_raised_and_retried(site, app, driver, caplog):
    manager = app.extensions["egret.manager"]
    manager.driver = Broken(prefix="egb")
    manager.sync()                                                  # logged, as before a site
    assert "data plane sync failed" in caplog.text and manager.site.failures["boss"]
    assert site["n2"].applied >= 1                                   # the others still got their part


def test_port_status_asks_the_node_the_port_is_bound_to(site, admin, alice_net, app):
    net, _ = alice_net
    on_n2, on_n3, on_n4 = (_port(admin, net, h, h) for h in ("n2", "n3", "n4"))
    manager = app.extensions["egret.manager"]
    site["n2"].plug(names.tap(on_n2["id"]))
    with app.app_context():
        models.database.connect(reuse_if_open=True)
        models.Port.update(status="ACTIVE").where(models.Port.id.in_([on_n3["id"], on_n4["id"]])).execute()
        models.database.close()
    manager.refresh_port_status()
    status = {p: admin.ok("GET", f"/v2.0/ports/{p}")["port"]["status"] for p in (on_n2["id"], on_n3["id"], on_n4["id"])}
    # n2 says its tap is up; offline n3 and unanswering n4 cannot say, so their ports keep what they had
    assert status == {on_n2["id"]: "ACTIVE", on_n3["id"]: "ACTIVE", on_n4["id"]: "ACTIVE"}


def test_a_member_or_standalone_box_applies_only_itself(app, settings, alice_net, driver):
    assert nodes.site_nodes(settings) is None                       # standalone
    membership.state_dir(settings).mkdir(parents=True, exist_ok=True)
    membership.write_json(membership.site_file(settings), {"site": "lab", "role": "member", "node": "n2"})
    assert nodes.site_nodes(settings) is None
    assert [d.network_id for d in driver.topology.dhcp] == [alice_net[0]["id"]]


def test_a_founder_before_its_first_round_is_a_site_of_one(settings):
    _found(settings, members=[])
    assert nodes.site_nodes(settings) == [nodes.Node("boss", "", True, True)]


def test_peers_skip_names_and_keep_the_setting():
    site = [nodes.Node("a", "10.0.0.1", True, True), nodes.Node("b", "box-b.lan", True, False),
            nodes.Node("c", "10.0.0.3", True, False), nodes.Node("d", "10.0.0.4", False, False)]
    assert nodes.vtep_peers(site, site[0], ["192.0.2.9", "10.0.0.3"]) == ["10.0.0.3", "192.0.2.9"]
    assert nodes.vtep_peers(site, site[2], []) == ["10.0.0.1"]


def test_a_peer_on_another_vxlan_port_is_named_with_it():
    """Several nodes on one machine each listen on their own port: a bare address would mean the sender's own."""
    site = [nodes.Node("a", "127.0.0.1", True, True), nodes.Node("b", "127.0.0.2", True, False),
            nodes.Node("c", "fd00::3", True, False), nodes.Node("d", "10.0.0.4", True, False)]
    ports = {"a": 4789, "b": 4790, "c": 4791}                          # d's agent has not said
    assert nodes.vtep_peers(site, site[0], [], ports) == ["127.0.0.2:4790", "[fd00::3]:4791", "10.0.0.4"]
    assert nodes.vtep_peers(site, site[1], [], ports) == ["127.0.0.1:4789", "[fd00::3]:4791", "10.0.0.4"]
    assert nodes.vtep_peers(site, site[0], [], {"a": 4789, "b": 4789}) == ["127.0.0.2", "fd00::3", "10.0.0.4"]
    for peers in (["127.0.0.2:4790", "[fd00::3]:4791"], ["127.0.0.1:4789", "[fd00::3]:4791"]):
        assert base.vxlan_remotes(peers, None, 4789)                   # the driver takes every form


def test_each_node_floods_to_the_port_its_peers_listen_on(site, admin, alice_net, driver):
    site["n2"].vxlan_port = 4790                                       # n2 shares the founder's machine
    net, _ = alice_net
    _port(admin, net, "n2", "vm-on-n2")
    assert driver.topology.vxlan_peers == ["10.0.0.2:4790", "fd00::4"]
    assert site["n2"].topology.vxlan_peers == ["10.0.0.1:4789", "[fd00::4]:4789"]


@pytest.mark.parametrize("address,host", [("10.0.0.2:8120", "10.0.0.2"), ("[fd00::2]:8120", "fd00::2"),
                                          ("box:8120", "box"), ("fd00::2", "fd00::2"), ("10.0.0.2", "10.0.0.2"),
                                          ("", "")])
def test_the_host_of_a_member_address(address, host):
    assert nodes.host_of(address) == host


def test_an_unreadable_site_file_leaves_the_box_its_own_data_plane(settings, monkeypatch):
    def denied(settings):
        raise PermissionError(13, "Permission denied", "cluster/site.json")
    monkeypatch.setattr(membership, "site", denied)
    assert nodes.site_nodes(settings) is None


def test_a_ports_bridge_is_named_as_its_node_names_it(site, admin, alice_net):
    """Nodes sharing one machine tag their link names: compute plugs a guest into the bridge the port's own node
    made, so the binding names that node's bridge (an offline node's as it last said, an unknown host the founder's)."""
    net, _ = alice_net
    site["n2"].node_tag = "b2"
    on_n2 = _port(admin, net, "n2", "vm-on-n2")
    assert on_n2["binding:vif_details"]["bridge_name"] == names.bridge(net["id"], "b2") != names.bridge(net["id"])
    on_boss = _port(admin, net, "boss", "vm-on-boss")
    assert on_boss["binding:vif_details"]["bridge_name"] == names.bridge(net["id"])
    on_n3 = _port(admin, net, "n3", "vm-on-n3")     # offline and never heard: not called, the untagged name
    assert on_n3["binding:vif_details"]["bridge_name"] == names.bridge(net["id"])
    assert ("n3", "10.0.0.3") not in site["asked"]
