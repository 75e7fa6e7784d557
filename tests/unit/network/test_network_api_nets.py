"""Networks and subnets: happy paths, Neutron error bodies on bad input, and the database left unchanged."""
from __future__ import annotations

import pytest



def neutron_error(doc, kind=None):
    assert set(doc) == {"NeutronError"}, doc
    err = doc["NeutronError"]
    assert set(err) == {"type", "message", "detail"}
    if kind:
        assert err["type"] == kind, err
    return err["message"]


def test_create_network_defaults_and_vxlan_segment(alice, admin):
    net = alice.ok("POST", "/v2.0/networks", {"network": {"name": "n1"}}, status=201)["network"]
    assert net["status"] == "ACTIVE" and net["subnets"] == [] and net["router:external"] is False
    assert net["project_id"] == net["tenant_id"] == "proj-a" and net["mtu"] == 1450
    assert net["revision_number"] == 0 and net["created_at"].endswith("Z")
    shown = admin.ok("GET", f"/v2.0/networks/{net['id']}")["network"]
    assert shown["provider:network_type"] == "vxlan" and shown["provider:segmentation_id"] == 100


def test_vni_range_exhausted_is_409(alice, snapshot):
    for i in range(3):
        alice.ok("POST", "/v2.0/networks", {"network": {"name": f"n{i}"}})
    before = snapshot()
    code, doc = alice.post("/v2.0/networks", {"network": {"name": "n4"}})
    assert code == 409
    neutron_error(doc, "NoNetworkAvailable")
    assert snapshot() == before


def test_provider_attributes_need_admin(alice, snapshot):
    before = snapshot()
    code, doc = alice.post("/v2.0/networks", {"network": {"name": "x", "provider:network_type": "flat",
                                                          "provider:physical_network": "public"}})
    assert code == 403
    neutron_error(doc)
    code, doc = alice.post("/v2.0/networks", {"network": {"name": "x", "router:external": True}})
    assert code == 403
    assert snapshot() == before


def test_flat_network_bad_physnet_and_duplicate(admin, snapshot, public_net):
    before = snapshot()
    code, doc = admin.post("/v2.0/networks", {"network": {"provider:network_type": "flat",
                                                          "provider:physical_network": "nope"}})
    assert code == 400 and "nope" in neutron_error(doc, "InvalidInput")
    code, doc = admin.post("/v2.0/networks", {"network": {"provider:network_type": "flat",
                                                          "provider:physical_network": "public"}})
    assert code == 409 and neutron_error(doc, "FlatNetworkInUse")
    code, doc = admin.post("/v2.0/networks", {"network": {"provider:network_type": "bogus"}})
    assert code == 400 and "provider:network_type" in neutron_error(doc)
    assert snapshot() == before


def test_vlan_network_validation(admin, snapshot):
    code, doc = admin.post("/v2.0/networks", {"network": {"provider:network_type": "vlan",
                                                          "provider:physical_network": "physnet1",
                                                          "provider:segmentation_id": 5000}})
    assert code == 400 and "segmentation_id" in neutron_error(doc)
    net = admin.ok("POST", "/v2.0/networks", {"network": {"provider:network_type": "vlan",
                                                          "provider:physical_network": "physnet1",
                                                          "provider:segmentation_id": 42}})["network"]
    assert net["provider:segmentation_id"] == 42 and net["mtu"] == 1500
    code, doc = admin.post("/v2.0/networks", {"network": {"provider:network_type": "vlan",
                                                          "provider:physical_network": "physnet1",
                                                          "provider:segmentation_id": 42}})
    assert code == 409 and neutron_error(doc, "VlanIdInUse")


def test_bad_json_and_types(alice, snapshot, client):
    before = snapshot()
    resp = client.post("/v2.0/networks", data="{nope", headers={"X-Auth-Token": alice.token,
                                                                "Content-Type": "application/json"})
    assert resp.status_code == 400 and "Malformed JSON" in neutron_error(resp.get_json())
    code, doc = alice.post("/v2.0/networks", {"network": {"admin_state_up": "yes"}})
    assert code == 400 and "admin_state_up" in neutron_error(doc)
    code, doc = alice.post("/v2.0/networks", {"nets": {}})
    assert code == 400 and "network" in neutron_error(doc)
    assert snapshot() == before


def test_no_token_is_401(client):
    resp = client.get("/v2.0/networks")
    assert resp.status_code == 401 and neutron_error(resp.get_json())


def test_reader_cannot_write(reader, snapshot):
    before = snapshot()
    code, doc = reader.post("/v2.0/networks", {"network": {"name": "r"}})
    assert code == 403 and neutron_error(doc)
    assert snapshot() == before


def test_project_isolation_and_404(alice, bob, alice_net):
    net, sub = alice_net
    assert [n["id"] for n in bob.ok("GET", "/v2.0/networks")["networks"]] == []
    code, doc = bob.get(f"/v2.0/networks/{net['id']}")
    assert code == 404 and neutron_error(doc, "NetworkNotFound")
    code, doc = bob.get(f"/v2.0/subnets/{sub['id']}")
    assert code == 404 and neutron_error(doc, "SubnetNotFound")
    code, doc = bob.delete(f"/v2.0/networks/{net['id']}")
    assert code == 404


def test_subnet_derives_gateway_pools_and_dhcp_port(alice, admin, alice_net):
    net, sub = alice_net
    assert sub["gateway_ip"] == "10.0.0.1"
    assert sub["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert sub["enable_dhcp"] is True
    ports = admin.ok("GET", "/v2.0/ports", network_id=net["id"])["ports"]
    assert [p["device_owner"] for p in ports] == ["network:dhcp"]
    assert ports[0]["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.0.0.2"}]
    assert alice.ok("GET", f"/v2.0/networks/{net['id']}")["network"]["subnets"] == [sub["id"]]


@pytest.mark.parametrize("body,kind,needle", [
    ({"cidr": "10.0.0.0/33"}, "InvalidInput", "10.0.0.0/33"),
    ({"cidr": "banana"}, "InvalidInput", "banana"),
    ({"cidr": "10.1.0.5/24"}, "InvalidInput", "10.1.0.0/24"),
    ({"cidr": "10.0.0.128/25"}, "InvalidInput", "overlaps"),
    ({"cidr": "10.0.0.0/16"}, "InvalidInput", "overlaps"),
    ({"cidr": "10.2.0.0/24", "ip_version": 6}, "InvalidInput", "ip_version"),
    ({"cidr": "10.2.0.0/24", "gateway_ip": "10.3.0.1"}, "InvalidInput", "10.3.0.1"),
    ({"cidr": "10.2.0.0/24", "gateway_ip": "10.2.0.255"}, "InvalidInput", "10.2.0.255"),
    ({"cidr": "10.2.0.0/24", "allocation_pools": [{"start": "10.2.0.50", "end": "10.3.0.9"}]},
     "OutOfBoundsAllocationPool", "10.3.0.9"),
    ({"cidr": "10.2.0.0/24", "allocation_pools": [{"start": "10.2.0.50", "end": "10.2.0.10"}]},
     "InvalidAllocationPool", "start"),
    ({"cidr": "10.2.0.0/24", "dns_nameservers": ["not-an-ip"]}, "InvalidInput", "dns_nameservers"),
    ({"cidr": "10.2.0.0/24", "host_routes": [{"destination": "1.2.3.0/24"}]}, "BadRequest", "host_routes"),
    ({"cidr": "10.2.0.0/31"}, "InvalidInput", "too small"),
])
def test_bad_subnets_are_rejected_unchanged(alice, snapshot, alice_net, body, kind, needle):
    net, _ = alice_net
    before = snapshot()
    code, doc = alice.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4, **body}})
    assert code == 400, doc
    assert needle in neutron_error(doc, kind)
    assert snapshot() == before


def test_gateway_inside_pool_is_409(alice, snapshot, alice_net):
    net, _ = alice_net
    before = snapshot()
    code, doc = alice.post("/v2.0/subnets", {"subnet": {
        "network_id": net["id"], "cidr": "10.5.0.0/24", "gateway_ip": "10.5.0.10",
        "allocation_pools": [{"start": "10.5.0.5", "end": "10.5.0.20"}]}})
    assert code == 409 and neutron_error(doc, "GatewayConflictWithAllocationPools")
    assert snapshot() == before


def test_subnet_on_another_projects_network(bob, snapshot, alice_net):
    net, _ = alice_net
    before = snapshot()
    code, doc = bob.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.9.0.0/24"}})
    assert code == 404 and neutron_error(doc, "NetworkNotFound")
    assert snapshot() == before


def test_ipv6_subnet(alice, alice_net):
    net, _ = alice_net
    sub = alice.ok("POST", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "fd00:1::/64",
                                                        "ip_version": 6}})["subnet"]
    assert sub["gateway_ip"] == "fd00:1::1"
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}})["port"]
    versions = sorted(":" in f["ip_address"] for f in port["fixed_ips"])
    assert versions == [False, True]


def test_update_subnet_and_network(alice, alice_net):
    net, sub = alice_net
    upd = alice.ok("PUT", f"/v2.0/subnets/{sub['id']}", {"subnet": {"name": "renamed",
                                                                    "dns_nameservers": ["192.0.2.53"]}})["subnet"]
    assert upd["name"] == "renamed" and upd["dns_nameservers"] == ["192.0.2.53"] and upd["revision_number"] == 1
    code, doc = alice.put(f"/v2.0/subnets/{sub['id']}", {"subnet": {"cidr": "10.7.0.0/24"}})
    assert code == 400 and "cidr" in neutron_error(doc)
    upd = alice.ok("PUT", f"/v2.0/networks/{net['id']}", {"network": {"name": "nn", "mtu": 1400}})["network"]
    assert upd["name"] == "nn" and upd["mtu"] == 1400 and upd["revision_number"] == 1
    code, doc = alice.put(f"/v2.0/networks/{net['id']}", {"network": {"id": "x"}})
    assert code == 400 and "id" in neutron_error(doc)


def test_delete_network_with_ports_in_use(alice, snapshot, alice_net):
    net, sub = alice_net
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}})["port"]
    before = snapshot()
    code, doc = alice.delete(f"/v2.0/networks/{net['id']}")
    assert code == 409 and "ports still in use" in neutron_error(doc, "NetworkInUse")
    code, doc = alice.delete(f"/v2.0/subnets/{sub['id']}")
    assert code == 409 and neutron_error(doc, "SubnetInUse")
    assert snapshot() == before
    alice.ok("DELETE", f"/v2.0/ports/{port['id']}", status=204)
    alice.ok("DELETE", f"/v2.0/networks/{net['id']}", status=204)
    assert alice.get(f"/v2.0/subnets/{sub['id']}")[0] == 404
    assert snapshot()["Port"] == []


def test_list_filters_sorting_pagination_fields(alice):
    ids = [alice.ok("POST", "/v2.0/networks", {"network": {"name": n}})["network"]["id"] for n in ("b", "a", "c")]
    names = [n["name"] for n in alice.ok("GET", "/v2.0/networks", sort_key="name", sort_dir="asc")["networks"]]
    assert names == ["a", "b", "c"]
    assert [n["id"] for n in alice.ok("GET", "/v2.0/networks", name="a")["networks"]] == [ids[1]]
    page = alice.ok("GET", "/v2.0/networks", limit=2, sort_key="name", sort_dir="desc")
    assert [n["name"] for n in page["networks"]] == ["c", "b"]
    assert page["networks_links"][0]["rel"] == "next" and "marker=" in page["networks_links"][0]["href"]
    rest = alice.ok("GET", "/v2.0/networks", limit=2, sort_key="name", sort_dir="desc",
                    marker=page["networks"][-1]["id"])
    assert [n["name"] for n in rest["networks"]] == ["a"] and "networks_links" not in rest
    only = alice.ok("GET", "/v2.0/networks", fields=["id", "name"], name="c")["networks"]
    assert only == [{"id": ids[2], "name": "c"}]
    assert alice.ok("GET", "/v2.0/networks", **{"router:external": "False"})["networks"]
    assert alice.ok("GET", "/v2.0/networks", **{"router:external": "True"})["networks"] == []
    code, doc = alice.get("/v2.0/networks", sort_key="name", sort_dir="sideways")
    assert code == 400 and neutron_error(doc)
    code, doc = alice.get("/v2.0/networks", limit="-3")
    assert code == 400 and "Limit" in neutron_error(doc)


def test_tags(alice, alice_net):
    net, _ = alice_net
    alice.ok("PUT", f"/v2.0/networks/{net['id']}/tags/red", status=201)
    alice.ok("PUT", f"/v2.0/networks/{net['id']}/tags", {"tags": ["blue", "red"]})
    assert alice.ok("GET", f"/v2.0/networks/{net['id']}")["network"]["tags"] == ["blue", "red"]
    assert [n["id"] for n in alice.ok("GET", "/v2.0/networks", tags="blue")["networks"]] == [net["id"]]
    assert alice.ok("GET", "/v2.0/networks", **{"not-tags": "blue"})["networks"] == []
    alice.ok("DELETE", f"/v2.0/networks/{net['id']}/tags/blue", status=204)
    code, doc = alice.delete(f"/v2.0/networks/{net['id']}/tags/blue")
    assert code == 404 and neutron_error(doc, "TagNotFound")


def test_extensions_and_versions(alice, client):
    aliases = {e["alias"] for e in alice.ok("GET", "/v2.0/extensions")["extensions"]}
    assert {"router", "external-net", "security-group", "qos", "binding", "provider", "quotas"} <= aliases
    assert alice.ok("GET", "/v2.0/extensions/router")["extension"]["alias"] == "router"
    code, doc = alice.get("/v2.0/extensions/external-gateway-multihoming")
    assert code == 404 and neutron_error(doc)
    resp = client.get("/")
    assert resp.status_code == 200 and resp.get_json()["versions"][0]["id"] == "v2.0"


def test_shared_network_visible_to_others(admin, bob):
    net = admin.ok("POST", "/v2.0/networks", {"network": {"name": "shared", "shared": True}})["network"]
    admin.ok("POST", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.50.0.0/24"}})
    assert net["id"] in [n["id"] for n in bob.ok("GET", "/v2.0/networks")["networks"]]
    port = bob.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}})["port"]
    assert port["project_id"] == "proj-b"
