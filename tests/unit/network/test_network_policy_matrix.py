"""Neutron policy matrix: every route of the network app, the status admin/member/reader/other/anon get."""
from __future__ import annotations

import itertools

import pytest

from appliance import routes
from appliance.testing import policy_matrix as pm
from appliance.testing.policy_matrix import route as R
from services.network import create_app
from services.network.drivers.fake import FakeDriver
from services.network.policies import POLICIES

M = pm.MEMBER_PROJECT


class World:
    """Builds fresh resources in the member's project through the API itself."""

    def __init__(self, client, tokens):
        self.client, self.tokens = client, tokens
        self.seq = itertools.count(1)
        self.public = self.call("admin", "POST", "/v2.0/networks", {"network": {
            "name": "public", "router:external": True, "provider:network_type": "flat",
            "provider:physical_network": "public"}})["network"]["id"]
        self.call("admin", "POST", "/v2.0/subnets", {"subnet": {
            "network_id": self.public, "cidr": "203.0.113.0/24", "ip_version": 4, "enable_dhcp": False}})

    def call(self, persona, method, path, body=None):
        resp = self.client.open(path, method=method, json=body, headers={"X-Auth-Token": self.tokens[persona]})
        assert resp.status_code < 300, (method, path, resp.status_code, resp.get_data(as_text=True))
        return resp.get_json(silent=True)

    def member(self, method, path, body=None):
        return self.call("member", method, path, body)

    def network(self):
        return self.member("POST", "/v2.0/networks", {"network": {"name": f"n{next(self.seq)}"}})["network"]["id"]

    def subnet(self, network_id=None):
        n = next(self.seq)
        return self.member("POST", "/v2.0/subnets", {"subnet": {
            "network_id": network_id or self.network(), "ip_version": 4,
            "cidr": f"10.{n // 250}.{n % 250}.0/24"}})["subnet"]["id"]

    def port(self):
        return self.member("POST", "/v2.0/ports", {"port": {"network_id": self.network()}})["port"]["id"]

    def router(self):
        return self.member("POST", "/v2.0/routers", {"router": {"name": f"r{next(self.seq)}"}})["router"]["id"]

    def floatingip(self):
        return self.member("POST", "/v2.0/floatingips", {"floatingip": {
            "floating_network_id": self.public}})["floatingip"]["id"]

    def security_group(self):
        return self.member("POST", "/v2.0/security-groups", {"security_group": {
            "name": f"sg{next(self.seq)}"}})["security_group"]["id"]

    def security_group_rule(self):
        return self.member("POST", "/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": self.security_group(), "direction": "ingress", "protocol": "tcp",
            "port_range_min": 22, "port_range_max": 22}})["security_group_rule"]["id"]

    def qos_policy(self):
        """The operator's policy for the member's project (only admins manage QoS, as in Neutron)."""
        return self.call("admin", "POST", "/v2.0/qos/policies", {"policy": {
            "name": f"q{next(self.seq)}", "project_id": M}})["policy"]["id"]

    def bw_rule(self):
        pid = self.qos_policy()
        rid = self.call("admin", "POST", f"/v2.0/qos/policies/{pid}/bandwidth_limit_rules", {
            "bandwidth_limit_rule": {"max_kbps": 1000}})["bandwidth_limit_rule"]["id"]
        return {"pid": pid, "rid": rid}

    def dscp_rule(self):
        pid = self.qos_policy()
        rid = self.call("admin", "POST", f"/v2.0/qos/policies/{pid}/dscp_marking_rules", {
            "dscp_marking_rule": {"dscp_mark": 18}})["dscp_marking_rule"]["id"]
        return {"pid": pid, "rid": rid}

    def tagged_network(self):
        rid = self.network()
        self.member("PUT", f"/v2.0/networks/{rid}/tags/blue")
        return {"resource": "networks", "rid": rid, "tag": "blue"}

    def agent(self):
        return self.call("admin", "GET", "/v2.0/agents")["agents"][0]["id"]

    def router_and_subnet(self, attached=False):
        rid, sid = self.router(), self.subnet()
        if attached:
            self.member("PUT", f"/v2.0/routers/{rid}/add_router_interface", {"subnet_id": sid})
        return {"rid": rid, "subnet_id": sid}


def rid(kind):
    return lambda w: {"rid": getattr(w, kind)()}


def ids(**makers):
    return lambda w: {k: (m(w) if callable(m) else m) for k, m in makers.items()}


OPEN, AUTHED = "200 200 200 200 200", "200 200 200 200 401"
READ_OWN, WRITE_OWN = "200 200 200 404 401", "200 200 403 404 401"
DELETE_OWN, ADMIN_ONLY = "204 204 403 404 401", "200 403 403 403 401"
OPERATOR_CREATE, OPERATOR_WRITE, OPERATOR_DELETE = "201 403 403 403 401", "200 403 403 403 401", "204 403 403 403 401"
PROJECT_QUOTA = "200 200 200 403 401"  # another project's quota URL is refused, not hidden

ROUTES = [
    R("GET /", OPEN), R("GET /healthz", OPEN), R("GET /metrics", OPEN),
    R("GET /v2.0", AUTHED), R("GET /v2.0/", AUTHED),
    R("GET /v2.0/extensions", AUTHED),
    R("GET /v2.0/extensions/<alias>", AUTHED, ids(alias="router")),
    # the site's nodes as agents: an operator's view (Neutron's get_agent is admin_only)
    R("GET /v2.0/agents", ADMIN_ONLY),
    R("GET /v2.0/agents/<rid>", ADMIN_ONLY, rid("agent")),
    # the collection lists what the caller may see: another project gets 200 and none of the member's rows
    R("GET /v2.0/networks", AUTHED),
    R("POST /v2.0/networks", "201 201 403 201 401", body={"network": {"name": "x"}}),
    R("GET /v2.0/networks/<rid>", READ_OWN, rid("network")),
    R("PUT /v2.0/networks/<rid>", WRITE_OWN, rid("network"), {"network": {"name": "y"}}),
    R("DELETE /v2.0/networks/<rid>", DELETE_OWN, rid("network")),
    R("GET /v2.0/subnets", AUTHED),
    # a subnet on the member's network: another project cannot see that network
    R("POST /v2.0/subnets", "201 201 403 404 401", ids(network_id=World.network),
      lambda i: {"subnet": {"network_id": i["network_id"], "cidr": "10.99.0.0/24", "ip_version": 4}}),
    R("GET /v2.0/subnets/<rid>", READ_OWN, rid("subnet")),
    R("PUT /v2.0/subnets/<rid>", WRITE_OWN, rid("subnet"), {"subnet": {"name": "y"}}),
    R("DELETE /v2.0/subnets/<rid>", DELETE_OWN, rid("subnet")),
    R("GET /v2.0/ports", AUTHED),
    R("POST /v2.0/ports", "201 201 403 404 401", ids(network_id=World.network),
      lambda i: {"port": {"network_id": i["network_id"]}}),
    R("GET /v2.0/ports/<rid>", READ_OWN, rid("port")),
    R("PUT /v2.0/ports/<rid>", WRITE_OWN, rid("port"), {"port": {"name": "y"}}),
    R("DELETE /v2.0/ports/<rid>", DELETE_OWN, rid("port")),
    R("GET /v2.0/routers", AUTHED),
    R("POST /v2.0/routers", "201 201 403 201 401", body={"router": {"name": "x"}}),
    R("GET /v2.0/routers/<rid>", READ_OWN, rid("router")),
    R("PUT /v2.0/routers/<rid>", WRITE_OWN, rid("router"), {"router": {"name": "y"}}),
    R("DELETE /v2.0/routers/<rid>", DELETE_OWN, rid("router")),
    R("PUT /v2.0/routers/<rid>/add_router_interface", WRITE_OWN, lambda w: w.router_and_subnet(),
      lambda i: {"subnet_id": i["subnet_id"]}),
    R("PUT /v2.0/routers/<rid>/remove_router_interface", WRITE_OWN, lambda w: w.router_and_subnet(attached=True),
      lambda i: {"subnet_id": i["subnet_id"]}),
    R("GET /v2.0/floatingips", AUTHED),
    R("POST /v2.0/floatingips", "201 201 403 201 401", ids(net=lambda w: w.public),
      lambda i: {"floatingip": {"floating_network_id": i["net"]}}),
    R("GET /v2.0/floatingips/<rid>", READ_OWN, rid("floatingip")),
    R("PUT /v2.0/floatingips/<rid>", WRITE_OWN, rid("floatingip"), {"floatingip": {"port_id": None}}),
    R("DELETE /v2.0/floatingips/<rid>", DELETE_OWN, rid("floatingip")),
    R("GET /v2.0/security-groups", AUTHED),
    R("POST /v2.0/security-groups", "201 201 403 201 401", body={"security_group": {"name": "x"}}),
    R("GET /v2.0/security-groups/<rid>", READ_OWN, rid("security_group")),
    R("PUT /v2.0/security-groups/<rid>", WRITE_OWN, rid("security_group"), {"security_group": {"name": "y"}}),
    R("DELETE /v2.0/security-groups/<rid>", DELETE_OWN, rid("security_group")),
    R("GET /v2.0/security-group-rules", AUTHED),
    R("POST /v2.0/security-group-rules", "201 201 403 404 401", ids(sg=World.security_group),
      lambda i: {"security_group_rule": {"security_group_id": i["sg"], "direction": "egress", "protocol": "udp"}}),
    R("GET /v2.0/security-group-rules/<rid>", READ_OWN, rid("security_group_rule")),
    R("DELETE /v2.0/security-group-rules/<rid>", DELETE_OWN, rid("security_group_rule")),
    # QoS policies and rules are the operator's (Neutron: admin_only); the project reads those made for it
    R("GET /v2.0/qos/rule-types", AUTHED),
    R("GET /v2.0/qos/policies", AUTHED),
    R("POST /v2.0/qos/policies", OPERATOR_CREATE, body={"policy": {"name": "x"}}),
    R("GET /v2.0/qos/policies/<rid>", READ_OWN, rid("qos_policy")),
    R("PUT /v2.0/qos/policies/<rid>", OPERATOR_WRITE, rid("qos_policy"), {"policy": {"name": "y"}}),
    R("DELETE /v2.0/qos/policies/<rid>", OPERATOR_DELETE, rid("qos_policy")),
    R("GET /v2.0/qos/policies/<pid>/bandwidth_limit_rules", READ_OWN, ids(pid=World.qos_policy)),
    R("POST /v2.0/qos/policies/<pid>/bandwidth_limit_rules", OPERATOR_CREATE, ids(pid=World.qos_policy),
      {"bandwidth_limit_rule": {"max_kbps": 2000}}),
    R("GET /v2.0/qos/policies/<pid>/bandwidth_limit_rules/<rid>", READ_OWN, World.bw_rule),
    R("PUT /v2.0/qos/policies/<pid>/bandwidth_limit_rules/<rid>", OPERATOR_WRITE, World.bw_rule,
      {"bandwidth_limit_rule": {"max_kbps": 3000}}),
    R("DELETE /v2.0/qos/policies/<pid>/bandwidth_limit_rules/<rid>", OPERATOR_DELETE, World.bw_rule),
    R("GET /v2.0/qos/policies/<pid>/dscp_marking_rules", READ_OWN, ids(pid=World.qos_policy)),
    R("POST /v2.0/qos/policies/<pid>/dscp_marking_rules", OPERATOR_CREATE, ids(pid=World.qos_policy),
      {"dscp_marking_rule": {"dscp_mark": 26}}),
    R("GET /v2.0/qos/policies/<pid>/dscp_marking_rules/<rid>", READ_OWN, World.dscp_rule),
    R("PUT /v2.0/qos/policies/<pid>/dscp_marking_rules/<rid>", OPERATOR_WRITE, World.dscp_rule,
      {"dscp_marking_rule": {"dscp_mark": 46}}),
    R("DELETE /v2.0/qos/policies/<pid>/dscp_marking_rules/<rid>", OPERATOR_DELETE, World.dscp_rule),
    # tags follow the tagged resource: readers read, members write, others cannot see it
    R("GET /v2.0/<resource>/<rid>/tags", READ_OWN, World.tagged_network),
    R("PUT /v2.0/<resource>/<rid>/tags", WRITE_OWN, World.tagged_network, {"tags": ["red"]}),
    R("DELETE /v2.0/<resource>/<rid>/tags", DELETE_OWN, World.tagged_network),
    R("GET /v2.0/<resource>/<rid>/tags/<tag>", "204 204 204 404 401", World.tagged_network),
    R("PUT /v2.0/<resource>/<rid>/tags/<tag>", "201 201 403 404 401", World.tagged_network),
    R("DELETE /v2.0/<resource>/<rid>/tags/<tag>", DELETE_OWN, World.tagged_network),
    R("GET /v2.0/quotas", ADMIN_ONLY),
    R("GET /v2.0/quotas/<project_id>", PROJECT_QUOTA, ids(project_id=M)),
    R("GET /v2.0/quotas/<project_id>/details", PROJECT_QUOTA, ids(project_id=M)),
    R("PUT /v2.0/quotas/<project_id>", ADMIN_ONLY, ids(project_id=M), {"quota": {"network": 50}}),
    R("DELETE /v2.0/quotas/<project_id>", "204 403 403 403 401", ids(project_id=M)),
]


# rows whose bodies set the attributes only an operator may set, on routes the table above declares
KNOBS = [
    R("POST /v2.0/networks", "201 403 403 403 401", body={"network": {"router:external": True}}),
    R("POST /v2.0/networks", "201 403 403 403 401", body={"network": {"shared": True}}),
    R("POST /v2.0/networks", "201 403 403 403 401", body={"network": {"provider:network_type": "vxlan"}}),
    R("POST /v2.0/ports", "201 403 403 404 401", ids(network_id=World.network),
      lambda i: {"port": {"network_id": i["network_id"], "binding:host_id": "node1"}}),
    R("PUT /v2.0/networks/<rid>", "200 403 403 404 401", rid("network"), {"network": {"shared": True}}),
]


@pytest.fixture
def world(settings, mint_token):
    settings.fake_drivers = True
    # a VNI per network: every cell builds its own networks
    settings.service = {"network": {"physical_interface_mappings": {"public": "eth9"},
                                    "vni_min": 100, "vni_max": 100000,
                                    "quotas": {k: 10000 for k in ("network", "subnet", "port", "router", "floatingip",
                                                                  "security_group", "security_group_rule")}}}
    app = create_app(settings, driver=FakeDriver(settings, prefix="egm"))
    return World(app.test_client(), pm.persona_tokens(mint_token))


def test_every_network_route_is_in_the_matrix(world):
    pm.assert_in_matrix([world.client.application], ROUTES)


def test_network_policy_matrix(world):
    def send(persona, method, path, body):
        token = world.tokens[persona]
        resp = world.client.open(path, method=method, json=body, headers={"X-Auth-Token": token} if token else {})
        return resp.status_code, resp.get_data(as_text=True)

    recorder = pm.RuleRecorder([world.client.application])
    cells = pm.run(ROUTES + KNOBS, world, send)
    assert len(cells) == len(ROUTES + KNOBS) * len(pm.PERSONAS)
    assert not pm.mismatches(cells), "\n" + pm.mismatches(cells)
    # every declared rule is evaluated by some cell (issue 13 wired network:read, admin_attributes and binding)
    assert recorder.unchecked(POLICIES) == set()


def test_matrix_renders_as_markdown():
    table = pm.render_markdown(ROUTES, "network")
    assert table.count("\n| ") == len(ROUTES) + 1
    assert "| GET | `/v2.0/networks/<rid>` | 200 | 200 | 200 | 404 | 401 |  |" in table


def test_a_member_cannot_tag_a_network_it_can_only_see(world):
    """The external network is visible to every project, but only its owner (or admin) may change its tags."""
    h = {"X-Auth-Token": world.tokens["member"]}
    assert world.client.get(f"/v2.0/networks/{world.public}/tags", headers=h).status_code == 200
    assert world.client.put(f"/v2.0/networks/{world.public}/tags/mine", headers=h).status_code == 403
    # Neutron answers 403 for a visible resource; Egret's manager hides it (404): refused either way
    assert world.client.put(f"/v2.0/networks/{world.public}", json={"network": {"name": "x"}},
                            headers=h).status_code in (403, 404)
    admin = {"X-Auth-Token": world.tokens["admin"]}
    assert world.client.get(f"/v2.0/networks/{world.public}/tags", headers=admin).get_json() == {"tags": []}


def test_every_served_route_is_declared(world):
    assert pm.undeclared(world.client.application) == (set(), set())


def test_every_network_rule_is_used_by_a_declared_route(world):
    declared = routes.declared(world.client.application)
    used = set().union(*(r.rules() for r in declared))
    assert pm.unused_rules(declared, POLICIES) == set(), "rules no route checks"
    assert used - set(POLICIES) == set(), "routes check rules the service does not define"


def test_matrix_agrees_with_the_declared_rules(world):
    app = world.client.application
    assert pm.agrees_with_rules(ROUTES, routes.declared(app), app.extensions["egret.policy"]) == []
    # the KNOBS rows differ from their route's rule by design: each sets an attribute the route declares an
    # operator's rule for, and that rule refuses the member
    by_key = {r.key: r for r in routes.declared(app)}
    for row in KNOBS:
        body = row.body(row.make(world)) if callable(row.body) else row.body
        (attrs,) = body.values()
        rules = {by_key[row.key].fields[a] for a in attrs if a in by_key[row.key].fields}
        assert rules and row.expect["member"] == 403, row
        assert not any(app.extensions["egret.policy"].check(rule, {"project_id": pm.MEMBER_PROJECT},
                                                            {**pm.PERSONA_CREDS["member"], "scope": "project"})
                       for rule in rules), row


def test_a_policy_override_changes_who_may_set_operator_attributes(settings, mint_token):
    """The rules are data: granting network:admin_attributes and network:binding to members lets them set
    `shared` and a port's binding; network:all_projects set to nobody hides other projects even from an admin."""
    settings.fake_drivers = True
    settings.service = {"network": {"physical_interface_mappings": {"public": "eth9"}}}
    settings.policy = {"network:admin_attributes": "role:member", "network:binding": "role:member",
                       "network:all_projects": "!"}
    client = create_app(settings, driver=FakeDriver(settings, prefix="egp")).test_client()
    tokens = pm.persona_tokens(mint_token)
    member, admin = {"X-Auth-Token": tokens["member"]}, {"X-Auth-Token": tokens["admin"]}
    net = client.post("/v2.0/networks", json={"network": {"name": "s", "shared": True}}, headers=member)
    assert net.status_code == 201, net.get_data(as_text=True)
    net_id = net.get_json()["network"]["id"]
    port = client.post("/v2.0/ports", json={"port": {"network_id": net_id, "binding:host_id": "node1"}},
                       headers=member)
    assert port.status_code == 201, port.get_data(as_text=True)
    private = client.post("/v2.0/networks", json={"network": {"name": "p"}}, headers=member).get_json()
    assert client.get(f"/v2.0/networks/{private['network']['id']}", headers=admin).status_code == 404
    assert client.get(f"/v2.0/networks/{net_id}", headers=admin).status_code == 200   # shared: everyone's
