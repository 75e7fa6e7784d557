"""The same API flows on PostgreSQL (the site-cluster engine); runs with --postgres (make test passes it)."""
from __future__ import annotations


import pytest

from services.network import create_app
from services.network.drivers.fake import FakeDriver

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_app(postgres_url, settings):
    from appliance.testing.postgres import new_database
    settings.database_url = new_database(postgres_url, "net")
    settings.fake_drivers = True
    settings.service = {"network": {"physical_interface_mappings": {"public": "eth9"}}}
    return create_app(settings, driver=FakeDriver(settings, prefix="egp"))


def test_full_flow_on_postgres(pg_app, mint_token, alice):
    api = type(alice)(pg_app.test_client(), mint_token(user_id="a", project_id="pa", roles=["admin", "member"]))
    pub = api.ok("POST", "/v2.0/networks", {"network": {"router:external": True, "provider:network_type": "flat",
                                                        "provider:physical_network": "public"}})["network"]
    api.ok("POST", "/v2.0/subnets", {"subnet": {"network_id": pub["id"], "cidr": "203.0.113.0/24",
                                                "enable_dhcp": False}})
    net = api.ok("POST", "/v2.0/networks", {"network": {"name": "n"}})["network"]
    sub = api.ok("POST", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/24"}})["subnet"]
    code, doc = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/25"}})
    assert code == 400 and doc["NeutronError"]["type"] == "InvalidInput"
    router = api.ok("POST", "/v2.0/routers", {"router": {"external_gateway_info": {"network_id": pub["id"]}}})["router"]
    api.ok("PUT", f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    port = api.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}})["port"]
    code, doc = api.post("/v2.0/ports", {"port": {"network_id": net["id"], "fixed_ips": [
        {"ip_address": port["fixed_ips"][0]["ip_address"]}]}})
    assert code == 409 and doc["NeutronError"]["type"] == "IpAddressAlreadyAllocated"
    fip = api.ok("POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": pub["id"],
                                                              "port_id": port["id"]}})["floatingip"]
    assert fip["status"] == "ACTIVE"
    sg = api.ok("GET", "/v2.0/security-groups", name="default")["security_groups"][0]
    api.ok("POST", "/v2.0/security-group-rules", {"security_group_rule": {
        "security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp", "port_range_min": 22}})
    api.ok("PUT", "/v2.0/quotas/pa", {"quota": {"port": 50}})
    api.ok("PUT", "/v2.0/quotas/pa", {"quota": {"port": 60}})
    assert api.ok("GET", "/v2.0/quotas/pa")["quota"]["port"] == 60
    code, doc = api.delete(f"/v2.0/networks/{net['id']}")
    assert code == 409 and doc["NeutronError"]["type"] == "NetworkInUse"
    api.ok("DELETE", f"/v2.0/floatingips/{fip['id']}", status=204)
    api.ok("DELETE", f"/v2.0/ports/{port['id']}", status=204)
    api.ok("PUT", f"/v2.0/routers/{router['id']}/remove_router_interface", {"subnet_id": sub["id"]})
    api.ok("DELETE", f"/v2.0/routers/{router['id']}", status=204)
    api.ok("DELETE", f"/v2.0/networks/{net['id']}", status=204)
