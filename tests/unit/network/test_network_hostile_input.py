"""Hostile bodies on every network JSON route: never a 5xx, refusals in Neutron's format, nothing changed; and
the named cases (deep nesting, lone surrogate, 10**30, NUL in names, non-boolean booleans)."""
import pytest

from appliance.testing import hostile
from services.network import schemas as s

# (method, path with {net}/{subnet}/{port}/{router}/{sg}/{ext} placeholders, wrapper, schema, a valid document)
ROUTES = [
    ("POST", "/v2.0/networks", "network", s.NETWORK_CREATE, {"name": "n"}),
    ("PUT", "/v2.0/networks/{net}", "network", s.NETWORK_UPDATE, {"name": "n2"}),
    ("POST", "/v2.0/subnets", "subnet", s.SUBNET_CREATE,
     {"network_id": "{net}", "cidr": "10.8.0.0/24", "ip_version": 4}),
    ("PUT", "/v2.0/subnets/{subnet}", "subnet", s.SUBNET_UPDATE, {"name": "s2"}),
    ("POST", "/v2.0/ports", "port", s.PORT_CREATE, {"network_id": "{net}"}),
    ("PUT", "/v2.0/ports/{port}", "port", s.PORT_UPDATE, {"name": "p2"}),
    ("POST", "/v2.0/routers", "router", s.ROUTER_CREATE, {"name": "r"}),
    ("PUT", "/v2.0/routers/{router}", "router", s.ROUTER_UPDATE, {"name": "r2"}),
    ("PUT", "/v2.0/routers/{router}/add_router_interface", None, s.ROUTER_INTERFACE, {"subnet_id": "{subnet}"}),
    ("POST", "/v2.0/floatingips", "floatingip", s.FLOATINGIP_CREATE, {"floating_network_id": "{ext}"}),
    ("POST", "/v2.0/security-groups", "security_group", s.SG_CREATE, {"name": "sg"}),
    ("POST", "/v2.0/security-group-rules", "security_group_rule", s.SG_RULE_CREATE,
     {"security_group_id": "{sg}", "direction": "ingress", "protocol": "tcp", "port_range_min": 22,
      "port_range_max": 22}),
    ("POST", "/v2.0/qos/policies", "policy", s.QOS_POLICY_CREATE, {"name": "q"}),
    ("PUT", "/v2.0/quotas/proj-a", "quota", s.QUOTA_UPDATE, {"network": 20}),
    ("PUT", "/v2.0/networks/{net}/tags", None, s.TAGS_REPLACE, {"tags": ["a"]}),
]


@pytest.fixture
def target(alice, public_net):
    net = alice.ok("POST", "/v2.0/networks", {"network": {"name": "fuzz"}})["network"]["id"]
    subnet = alice.ok("POST", "/v2.0/subnets", {"subnet": {"network_id": net, "cidr": "10.9.0.0/24",
                                                           "ip_version": 4}})["subnet"]["id"]
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net}})["port"]["id"]
    router = alice.ok("POST", "/v2.0/routers", {"router": {"name": "r"}})["router"]["id"]
    sg = alice.ok("POST", "/v2.0/security-groups", {"security_group": {"name": "sg"}})["security_group"]["id"]
    return {"net": net, "subnet": subnet, "port": port, "router": router, "sg": sg, "ext": public_net[0]["id"]}


def _send(api, method, path, raw):
    return api.client.open(path, method=method, data=raw, content_type="application/json",
                           headers={"X-Auth-Token": api.token})


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_hostile_bodies_are_refused_and_change_nothing(alice, admin, snapshot, target, route):
    method, path, wrapper, schema, base = route
    base = hostile.fill_placeholders(base, target)
    path = path.format(**target)
    api = admin if "quotas" in path else alice
    hostile.fuzz_route(lambda raw: _send(api, method, path, raw), "neutron", wrapper,
                       hostile.fields_of(schema, wrapper), base, snapshot)


def test_named_cases(alice, snapshot, target):
    before = snapshot()
    cases = [
        (b"[" * 100000 + b"]" * 100000, "nested deeper"),
        (b'{"network": {"name": "a\\ud800"}}', "network/name"),
        (b'{"network": {"name": "n", "mtu": 1000000000000000000000000000000}}', "network/mtu"),
        (b'{"network": {"name": "evil\\u0000"}}', "network/name"),
        (b'{"network": {"name": "n", "admin_state_up": "maybe"}}', "network/admin_state_up"),
        (b'{"network": {"name": "n", "shared": 1}}', "network/shared"),
    ]
    for raw, field in cases:
        hostile.assert_refused("neutron", _send(alice, "POST", "/v2.0/networks", raw), 400, field=field)
    for raw, field in [(b'{"port": {"name": "p\\u0000"}}', "port/name"),
                       (b'{"port": {"admin_state_up": "yes"}}', "port/admin_state_up")]:
        hostile.assert_refused("neutron", _send(alice, "PUT", f"/v2.0/ports/{target['port']}", raw), 400,
                               field=field)
    assert snapshot() == before
