"""Ports (IPAM, binding for compute), routers and floating IPs: happy paths and bad input."""
from __future__ import annotations

import pytest


def neutron_error(doc, kind=None):
    assert set(doc) == {"NeutronError"}, doc
    if kind:
        assert doc["NeutronError"]["type"] == kind, doc
    return doc["NeutronError"]["message"]


def test_port_gets_ip_mac_and_default_sg(alice, alice_net):
    net, sub = alice_net
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"], "name": "p1"}}, status=201)["port"]
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.0.0.3"}]
    assert port["mac_address"].startswith("fa:16:3e:") and port["status"] == "DOWN"
    assert port["binding:vif_type"] == "unbound"
    sgs = alice.ok("GET", "/v2.0/security-groups", name="default")["security_groups"]
    assert len(sgs) == 1 and port["security_groups"] == [sgs[0]["id"]]


@pytest.mark.parametrize("fixed,kind,status", [
    ([{"ip_address": "10.9.9.9"}], "InvalidIpForNetwork", 400),
    ([{"subnet_id": "SUB", "ip_address": "10.9.9.9"}], "InvalidIpForSubnet", 400),
    ([{"subnet_id": "SUB", "ip_address": "10.0.0.2"}], "IpAddressAlreadyAllocated", 409),
    ([{"subnet_id": "SUB", "ip_address": "10.0.0.1"}], "IpAddressAlreadyAllocated", 409),
    ([{"subnet_id": "nope"}], "InvalidInput", 400),
    ([{"ip_address": "not-an-ip"}], "InvalidInput", 400),
    ([{"bogus": 1}], "BadRequest", 400),
])
def test_bad_fixed_ips(alice, snapshot, alice_net, fixed, kind, status):
    net, sub = alice_net
    fixed = [{k: (sub["id"] if v == "SUB" else v) for k, v in f.items()} for f in fixed]
    before = snapshot()
    code, doc = alice.post("/v2.0/ports", {"port": {"network_id": net["id"], "fixed_ips": fixed}})
    assert code == status, doc
    neutron_error(doc, kind)
    assert snapshot() == before


def test_port_on_another_projects_network(bob, snapshot, alice_net):
    net, _ = alice_net
    before = snapshot()
    code, doc = bob.post("/v2.0/ports", {"port": {"network_id": net["id"]}})
    assert code == 404 and neutron_error(doc, "NetworkNotFound")
    assert snapshot() == before


def test_bad_and_duplicate_mac(alice, snapshot, alice_net):
    net, _ = alice_net
    alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"], "mac_address": "52:54:00:00:00:01"}})
    before = snapshot()
    code, doc = alice.post("/v2.0/ports", {"port": {"network_id": net["id"], "mac_address": "52:54:00:00:00:01"}})
    assert code == 409 and neutron_error(doc, "MacAddressInUse")
    code, doc = alice.post("/v2.0/ports", {"port": {"network_id": net["id"], "mac_address": "zz:54:00:00:00:01"}})
    assert code == 400 and "mac_address" in neutron_error(doc, "InvalidInput")
    code, doc = alice.post("/v2.0/ports", {"port": {"network_id": net["id"], "mac_address": "01:00:5e:00:00:01"}})
    assert code == 400
    assert snapshot() == before


def test_binding_for_compute(alice, admin, driver, alice_net):
    net, _ = alice_net
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}})["port"]
    code, doc = alice.put(f"/v2.0/ports/{port['id']}", {"port": {"binding:host_id": "node1"}})
    assert code == 403 and neutron_error(doc)
    bound = admin.ok("PUT", f"/v2.0/ports/{port['id']}", {"port": {
        "binding:host_id": "node1", "device_id": "vm-1", "device_owner": "compute:nova"}})["port"]
    assert bound["binding:vif_type"] == "bridge"
    assert bound["binding:vif_details"]["bridge_name"] == "brq" + net["id"][:11]
    assert bound["binding:vif_details"]["port_filter"] is True
    assert [p["id"] for p in alice.ok("GET", "/v2.0/ports", device_id="vm-1")["ports"]] == [port["id"]]
    assert any(p.tap == "tap" + port["id"][:11] for p in driver.topology.ports)
    # the hypervisor plugs the tap; the reconcile pass marks the port ACTIVE
    driver.plug("tap" + port["id"][:11])
    mgr = alice.client.application.extensions["egret.manager"]
    assert mgr.refresh_port_status() >= 1
    assert alice.ok("GET", f"/v2.0/ports/{port['id']}")["port"]["status"] == "ACTIVE"


def test_port_filters_fixed_ips_and_update(alice, alice_net):
    net, sub = alice_net
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": sub["id"], "ip_address": "10.0.0.77"}]}})["port"]
    found = alice.ok("GET", "/v2.0/ports", fixed_ips="ip_address=10.0.0.77")["ports"]
    assert [p["id"] for p in found] == [port["id"]]
    upd = alice.ok("PUT", f"/v2.0/ports/{port['id']}", {"port": {"fixed_ips": [
        {"subnet_id": sub["id"], "ip_address": "10.0.0.78"}], "allowed_address_pairs": [
        {"ip_address": "10.0.0.200"}]}})["port"]
    assert upd["fixed_ips"][0]["ip_address"] == "10.0.0.78" and upd["revision_number"] == 1
    code, doc = alice.put(f"/v2.0/ports/{port['id']}", {"port": {"port_security_enabled": False}})
    assert code == 409 and neutron_error(doc, "PortSecurityPortHasSecurityGroup")


def _router_with_net(alice, admin, public_net, alice_net):
    pub, _ = public_net
    net, sub = alice_net
    router = alice.ok("POST", "/v2.0/routers", {"router": {"name": "r1"}})["router"]
    assert router["external_gateway_info"] is None and router["routes"] == []
    info = alice.ok("PUT", f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert info["subnet_id"] == sub["id"] and info["port_id"]
    router = alice.ok("PUT", f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": pub["id"]}}})["router"]
    gw = router["external_gateway_info"]
    assert gw["network_id"] == pub["id"] and gw["enable_snat"] is True
    assert gw["external_fixed_ips"][0]["ip_address"] == "203.0.113.10"
    return router, info


def test_router_floating_ip_flow(alice, admin, driver, public_net, alice_net):
    pub, _ = public_net
    net, sub = alice_net
    router, info = _router_with_net(alice, admin, public_net, alice_net)
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"], "device_id": "vm-1"}})["port"]
    fip = alice.ok("POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": pub["id"]}},
                   status=201)["floatingip"]
    assert "name" not in fip and fip["status"] == "DOWN" and fip["floating_ip_address"] == "203.0.113.11"
    fip = alice.ok("PUT", f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": port["id"]}})["floatingip"]
    assert fip["router_id"] == router["id"] and fip["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    assert alice.ok("GET", "/v2.0/floatingips", port_id=port["id"])["floatingips"][0]["id"] == fip["id"]
    spec = next(r for r in driver.topology.routers if r.id == router["id"])
    assert spec.floating_ips == [("203.0.113.11", fip["fixed_ip_address"])]
    assert spec.gateway.addresses == ["203.0.113.10/24"] and spec.internal_cidrs == ["10.0.0.0/24"]
    # openstacksdk's create with port and fixed address in one call
    port2 = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}})["port"]
    fip2 = alice.ok("POST", "/v2.0/floatingips", {"floatingip": {
        "floating_network_id": pub["id"], "port_id": port2["id"],
        "fixed_ip_address": port2["fixed_ips"][0]["ip_address"]}})["floatingip"]
    assert fip2["status"] == "ACTIVE"


def test_duplicate_floating_ip_association(alice, admin, snapshot, public_net, alice_net):
    pub, _ = public_net
    net, _ = alice_net
    _router_with_net(alice, admin, public_net, alice_net)
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}})["port"]
    alice.ok("POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": pub["id"], "port_id": port["id"]}})
    other = alice.ok("POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": pub["id"]}})["floatingip"]
    before = snapshot()
    code, doc = alice.put(f"/v2.0/floatingips/{other['id']}", {"floatingip": {"port_id": port["id"]}})
    assert code == 409 and neutron_error(doc, "FloatingIPPortAlreadyAssociated")
    code, doc = alice.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": pub["id"],
                                                                "port_id": port["id"]}})
    assert code == 409
    assert snapshot() == before


def test_floating_ip_bad_input(alice, bob, snapshot, public_net, alice_net):
    pub, _ = public_net
    net, _ = alice_net
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}})["port"]
    before = snapshot()
    code, doc = alice.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": net["id"]}})
    assert code == 400 and "not a valid external network" in neutron_error(doc)
    # no router joins the port's subnet to the external network
    code, doc = alice.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": pub["id"],
                                                                "port_id": port["id"]}})
    assert code == 404 and neutron_error(doc, "ExternalGatewayForFloatingIPNotFound")
    code, doc = bob.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": pub["id"],
                                                              "port_id": port["id"]}})
    assert code == 404 and neutron_error(doc, "PortNotFound")
    code, doc = alice.post("/v2.0/floatingips", {"floatingip": {}})
    assert code == 400 and "floating_network_id" in neutron_error(doc)
    assert snapshot() == before


def test_router_bad_input_and_in_use(alice, admin, snapshot, public_net, alice_net):
    pub, _ = public_net
    net, sub = alice_net
    router, info = _router_with_net(alice, admin, public_net, alice_net)
    before = snapshot()
    code, doc = alice.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert code == 400 and "already has a port" in neutron_error(doc)
    code, doc = alice.put(f"/v2.0/routers/{router['id']}/add_router_interface", {})
    assert code == 400
    code, doc = alice.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": net["id"]}}})
    assert code == 400 and "not a valid external network" in neutron_error(doc)
    code, doc = alice.delete(f"/v2.0/routers/{router['id']}")
    assert code == 409 and neutron_error(doc, "RouterInUse")
    code, doc = alice.delete(f"/v2.0/ports/{info['port_id']}")
    assert code == 409 and neutron_error(doc, "L3PortInUse")
    assert snapshot() == before
    alice.ok("PUT", f"/v2.0/routers/{router['id']}/remove_router_interface", {"subnet_id": sub["id"]})
    alice.ok("DELETE", f"/v2.0/routers/{router['id']}", status=204)
    assert [p["device_owner"] for p in admin.ok("GET", "/v2.0/ports")["ports"]] == ["network:dhcp"]


def test_interface_in_use_by_floating_ip(alice, admin, snapshot, public_net, alice_net):
    pub, _ = public_net
    net, sub = alice_net
    router, _ = _router_with_net(alice, admin, public_net, alice_net)
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}})["port"]
    alice.ok("POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": pub["id"], "port_id": port["id"]}})
    before = snapshot()
    code, doc = alice.put(f"/v2.0/routers/{router['id']}/remove_router_interface", {"subnet_id": sub["id"]})
    assert code == 409 and neutron_error(doc, "RouterInterfaceInUseByFloatingIP")
    code, doc = alice.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": {}}})
    assert code == 409
    assert snapshot() == before


def test_deleting_port_disassociates_fip(alice, admin, public_net, alice_net):
    pub, _ = public_net
    net, _ = alice_net
    _router_with_net(alice, admin, public_net, alice_net)
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}})["port"]
    fip = alice.ok("POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": pub["id"],
                                                                "port_id": port["id"]}})["floatingip"]
    alice.ok("DELETE", f"/v2.0/ports/{port['id']}", status=204)
    fip = alice.ok("GET", f"/v2.0/floatingips/{fip['id']}")["floatingip"]
    assert fip["port_id"] is None and fip["status"] == "DOWN"
    alice.ok("DELETE", f"/v2.0/floatingips/{fip['id']}", status=204)


def test_service_token_binds_and_deletes_ports(client, mint_token, alice, alice_net):
    net, _ = alice_net
    nova = type(alice)(client, mint_token(user_id="nova", project_id="service", roles=["admin", "service", "member"],
                                  is_service=True))
    port = nova.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"], "project_id": "proj-a"}})["port"]
    assert port["project_id"] == "proj-a"
    bound = nova.ok("PUT", f"/v2.0/ports/{port['id']}", {"port": {"binding:host_id": "node1", "device_id": "srv",
                                                                   "device_owner": "compute:nova"}})["port"]
    assert bound["binding:vif_type"] == "bridge"
    assert [p["id"] for p in alice.ok("GET", "/v2.0/ports", device_id="srv")["ports"]] == [port["id"]]
    nova.ok("DELETE", f"/v2.0/ports/{port['id']}", status=204)


def test_metrics_report_resources(client, alice_net):
    text = client.get("/metrics").get_data(as_text=True)
    assert 'egret_network_resources{kind="networks"} 1.0' in text
    assert "egret_network_dhcp_leases" in text


def test_router_routes_update_and_validation(alice, driver, snapshot, public_net, alice_net):
    router, _ = _router_with_net(alice, None, public_net, alice_net)
    upd = alice.ok("PUT", f"/v2.0/routers/{router['id']}", {"router": {
        "routes": [{"destination": "192.168.7.0/24", "nexthop": "10.0.0.50"}], "name": "edge"}})["router"]
    assert upd["routes"] == [{"destination": "192.168.7.0/24", "nexthop": "10.0.0.50"}] and upd["name"] == "edge"
    assert next(r for r in driver.topology.routers if r.id == router["id"]).routes == upd["routes"]
    before = snapshot()
    code, doc = alice.put(f"/v2.0/routers/{router['id']}", {"router": {"routes": [{"destination": "nope",
                                                                                  "nexthop": "10.0.0.50"}]}})
    assert code == 400 and "routes/destination" in neutron_error(doc)
    code, doc = alice.put(f"/v2.0/routers/{router['id']}", {"router": {"admin_state_up": "up"}})
    assert code == 400 and "admin_state_up" in neutron_error(doc)
    assert snapshot() == before


def test_other_project_cannot_touch_router_or_fip(alice, bob, snapshot, public_net, alice_net):
    pub, _ = public_net
    router, _ = _router_with_net(alice, None, public_net, alice_net)
    fip = alice.ok("POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": pub["id"]}})["floatingip"]
    before = snapshot()
    assert bob.get(f"/v2.0/routers/{router['id']}")[0] == 404
    code, doc = bob.put(f"/v2.0/routers/{router['id']}", {"router": {"name": "mine"}})
    assert code == 404 and neutron_error(doc, "RouterNotFound")
    code, doc = bob.delete(f"/v2.0/floatingips/{fip['id']}")
    assert code == 404 and neutron_error(doc, "FloatingIPNotFound")
    assert bob.ok("GET", "/v2.0/floatingips")["floatingips"] == []
    assert snapshot() == before


def test_floating_ip_pool_exhausted(alice, admin, snapshot):
    net = admin.ok("POST", "/v2.0/networks", {"network": {"router:external": True, "provider:network_type": "flat",
                                                          "provider:physical_network": "public"}})["network"]
    admin.ok("POST", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "198.51.100.0/24",
                                                  "enable_dhcp": False, "allocation_pools": [
                                                      {"start": "198.51.100.10", "end": "198.51.100.11"}]}})
    for _ in range(2):
        alice.ok("POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": net["id"]}})
    before = snapshot()
    code, doc = alice.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": net["id"]}})
    assert code == 409 and neutron_error(doc, "IpAddressGenerationFailure")
    assert snapshot() == before
