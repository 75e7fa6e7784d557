"""Security groups and rules, QoS policies and quotas: happy paths, bad input, nothing changed on failure."""
from __future__ import annotations

import pytest

from services.network.drivers import names


def neutron_error(doc, kind=None):
    assert set(doc) == {"NeutronError"}, doc
    if kind:
        assert doc["NeutronError"]["type"] == kind, doc
    return doc["NeutronError"]["message"]


def test_default_group_created_on_first_use(alice, bob):
    groups = alice.ok("GET", "/v2.0/security-groups")["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    rules = groups[0]["security_group_rules"]
    assert sorted((r["direction"], r["ethertype"], r["remote_group_id"] is not None) for r in rules) == [
        ("egress", "IPv4", False), ("egress", "IPv6", False), ("ingress", "IPv4", True), ("ingress", "IPv6", True)]
    assert alice.ok("GET", "/v2.0/security-groups")["security_groups"][0]["id"] == groups[0]["id"]
    assert bob.ok("GET", "/v2.0/security-groups")["security_groups"][0]["id"] != groups[0]["id"]


def test_rule_create_as_the_cli_sends_it(alice, driver, alice_net):
    net, _ = alice_net
    sg = alice.ok("GET", "/v2.0/security-groups", name="default")["security_groups"][0]
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}})["port"]
    rule = alice.ok("POST", "/v2.0/security-group-rules", {"security_group_rule": {
        "security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
        "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}}, status=201)[
        "security_group_rule"]
    assert rule["protocol"] == "tcp" and rule["port_range_min"] == 22
    spec = next(p for p in driver.topology.ports if p.id == port["id"])
    assert any(r.protocol == "tcp" and r.port_min == 22 and r.remote_prefixes == ["0.0.0.0/0"] for r in spec.rules)
    # the remote-group rule of the default group resolves to the members' addresses
    member = [r for r in spec.rules if r.direction == "ingress" and r.ethertype == "IPv4" and r.protocol is None][0]
    assert member.remote_prefixes == [port["fixed_ips"][0]["ip_address"]]
    alice.ok("DELETE", f"/v2.0/security-group-rules/{rule['id']}", status=204)
    spec = next(p for p in driver.topology.ports if p.id == port["id"])
    assert not any(r.protocol == "tcp" for r in spec.rules)


@pytest.mark.parametrize("extra,kind", [
    ({"protocol": "tcp", "port_range_min": 30, "port_range_max": 20}, "SecurityGroupInvalidPortRange"),
    ({"protocol": "tcp", "port_range_min": 0, "port_range_max": 70000}, "SecurityGroupInvalidPortRange"),
    ({"protocol": "bogus"}, "SecurityGroupRuleInvalidProtocol"),
    ({"protocol": "icmp", "port_range_min": 300}, "SecurityGroupInvalidIcmpValue"),
    ({"remote_ip_prefix": "10.0.0.0/33"}, "InvalidInput"),
    ({"remote_ip_prefix": "fd00::/64"}, "SecurityGroupRuleParameterConflict"),
    ({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "SG"}, "SecurityGroupRemoteGroupAndRemoteIpPrefix"),
    ({"direction": "sideways"}, "BadRequest"),
    ({"protocol": "gre", "port_range_min": 1}, "SecurityGroupInvalidPortRange"),
])
def test_bad_rules(alice, snapshot, extra, kind):
    sg = alice.ok("GET", "/v2.0/security-groups")["security_groups"][0]
    body = {"security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4"}
    body.update({k: (sg["id"] if v == "SG" else v) for k, v in extra.items()})
    before = snapshot()
    code, doc = alice.post("/v2.0/security-group-rules", {"security_group_rule": body})
    assert code == 400, doc
    neutron_error(doc, kind)
    assert snapshot() == before


def test_duplicate_rule_and_foreign_group(alice, bob, snapshot):
    sg = alice.ok("POST", "/v2.0/security-groups", {"security_group": {"name": "web"}})["security_group"]
    assert len(sg["security_group_rules"]) == 2
    body = {"security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp", "port_range_min": 80,
            "port_range_max": 80}
    alice.ok("POST", "/v2.0/security-group-rules", {"security_group_rule": body})
    before = snapshot()
    code, doc = alice.post("/v2.0/security-group-rules", {"security_group_rule": body})
    assert code == 409 and neutron_error(doc, "SecurityGroupRuleExists")
    code, doc = bob.post("/v2.0/security-group-rules", {"security_group_rule": body})
    assert code == 404 and neutron_error(doc, "SecurityGroupNotFound")
    assert snapshot() == before


def test_group_in_use_and_default_protected(alice, snapshot, alice_net):
    net, _ = alice_net
    sg = alice.ok("POST", "/v2.0/security-groups", {"security_group": {"name": "web"}})["security_group"]
    alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"], "security_groups": [sg["id"]]}})
    default = alice.ok("GET", "/v2.0/security-groups", name="default")["security_groups"][0]
    before = snapshot()
    code, doc = alice.delete(f"/v2.0/security-groups/{sg['id']}")
    assert code == 409 and neutron_error(doc, "SecurityGroupInUse")
    code, doc = alice.delete(f"/v2.0/security-groups/{default['id']}")
    assert code == 409
    code, doc = alice.post("/v2.0/security-groups", {"security_group": {"name": "default"}})
    assert code == 409
    assert snapshot() == before


def test_qos_policy_rules_reach_the_driver(admin, alice, driver, alice_net, snapshot):
    net, _ = alice_net
    # QoS policies are the operator's, as in Neutron: a member is refused and nothing is made
    before = snapshot()
    code, doc = alice.post("/v2.0/qos/policies", {"policy": {"name": "mine"}})
    assert code == 403 and neutron_error(doc)
    assert snapshot() == before
    policy = admin.ok("POST", "/v2.0/qos/policies", {"policy": {"name": "slow", "shared": True}},
                      status=201)["policy"]
    code, doc = alice.post(f"/v2.0/qos/policies/{policy['id']}/bandwidth_limit_rules", {
        "bandwidth_limit_rule": {"max_kbps": 5}})
    assert code == 403 and neutron_error(doc)
    rule = admin.ok("POST", f"/v2.0/qos/policies/{policy['id']}/bandwidth_limit_rules", {
        "bandwidth_limit_rule": {"max_kbps": 2000, "max_burst_kbps": 200, "direction": "ingress"}},
        status=201)["bandwidth_limit_rule"]
    assert rule["direction"] == "ingress"
    code, doc = admin.post(f"/v2.0/qos/policies/{policy['id']}/bandwidth_limit_rules", {
        "bandwidth_limit_rule": {"max_kbps": 1, "direction": "ingress"}})
    assert code == 409 and neutron_error(doc, "QoSRulesConflict")
    code, doc = admin.post(f"/v2.0/qos/policies/{policy['id']}/bandwidth_limit_rules", {
        "bandwidth_limit_rule": {"max_kbps": -5}})
    assert code == 400 and "max_kbps" in neutron_error(doc)
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"], "qos_policy_id": policy["id"]}})["port"]
    spec = next(p for p in driver.topology.ports if p.id == port["id"])
    assert (spec.ingress_kbps, spec.ingress_burst_kbps, spec.egress_kbps) == (2000, 200, None)
    code, doc = alice.delete(f"/v2.0/qos/policies/{policy['id']}")
    assert code == 403 and neutron_error(doc)
    code, doc = admin.delete(f"/v2.0/qos/policies/{policy['id']}")
    assert code == 409 and neutron_error(doc, "QosPolicyInUse")
    assert alice.ok("GET", "/v2.0/qos/rule-types")["rule_types"] == [{"type": "bandwidth_limit"},
                                                                      {"type": "dscp_marking"}]


def test_dscp_marking_rule_marks_the_ports_of_its_policy(admin, alice, driver, alice_net, snapshot):
    net, _ = alice_net
    policy = admin.ok("POST", "/v2.0/qos/policies", {"policy": {"name": "voice", "shared": True}},
                      status=201)["policy"]
    rules = f"/v2.0/qos/policies/{policy['id']}/dscp_marking_rules"
    before = snapshot()
    # a member may not mark; a mark Neutron does not accept, a string, a missing mark: 400 naming the field
    code, doc = alice.post(rules, {"dscp_marking_rule": {"dscp_mark": 46}})
    assert code == 403 and neutron_error(doc)
    for bad in ({"dscp_mark": 7}, {"dscp_mark": 64}, {"dscp_mark": "46"}, {}):
        code, doc = admin.post(rules, {"dscp_marking_rule": bad})
        assert code == 400 and "dscp_mark" in neutron_error(doc), (bad, doc)
    assert snapshot() == before
    rule = admin.ok("POST", rules, {"dscp_marking_rule": {"dscp_mark": 46}}, status=201)["dscp_marking_rule"]
    assert rule["dscp_mark"] == 46 and rule["type"] == "dscp_marking"
    code, doc = admin.post(rules, {"dscp_marking_rule": {"dscp_mark": 26}})
    assert code == 409 and neutron_error(doc, "QoSRulesConflict")
    # a bandwidth limit beside it: each kind lists its own, the policy shows both
    admin.ok("POST", f"/v2.0/qos/policies/{policy['id']}/bandwidth_limit_rules",
             {"bandwidth_limit_rule": {"max_kbps": 4000}}, status=201)
    assert [r["id"] for r in alice.ok("GET", rules)["dscp_marking_rules"]] == [rule["id"]]
    assert len(alice.ok("GET", f"/v2.0/qos/policies/{policy['id']}/bandwidth_limit_rules")
               ["bandwidth_limit_rules"]) == 1
    assert sorted(r["type"] for r in alice.ok("GET", f"/v2.0/qos/policies/{policy['id']}")["policy"]["rules"]) \
        == ["bandwidth_limit", "dscp_marking"]
    # the network's policy reaches its ports' specs; a change of mark reaches them too
    admin.ok("PUT", f"/v2.0/networks/{net['id']}", {"network": {"qos_policy_id": policy["id"]}})
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}}, status=201)["port"]

    def mark():
        return next(p for p in driver.topology.ports if p.id == port["id"]).dscp_mark
    assert mark() == 46
    admin.ok("PUT", f"{rules}/{rule['id']}", {"dscp_marking_rule": {"dscp_mark": 34}})
    assert mark() == 34 and driver.inventory()["marked_taps"] == [names.tap(port["id"])]
    code, doc = alice.put(f"{rules}/{rule['id']}", {"dscp_marking_rule": {"dscp_mark": 0}})
    assert code == 403 and mark() == 34
    admin.ok("DELETE", f"{rules}/{rule['id']}", status=204)
    assert mark() is None
    code, doc = admin.get(f"{rules}/{rule['id']}")
    assert code == 404 and neutron_error(doc)


def test_quotas(admin, alice, snapshot):
    assert alice.ok("GET", "/v2.0/quotas/proj-a")["quota"]["network"] == 100
    code, doc = alice.put("/v2.0/quotas/proj-a", {"quota": {"network": 1}})
    assert code == 403 and neutron_error(doc)
    assert admin.ok("PUT", "/v2.0/quotas/proj-a", {"quota": {"network": 1}})["quota"]["network"] == 1
    code, doc = admin.put("/v2.0/quotas/proj-a", {"quota": {"widgets": 1}})
    assert code == 400
    alice.ok("POST", "/v2.0/networks", {"network": {"name": "one"}})
    before = snapshot()
    code, doc = alice.post("/v2.0/networks", {"network": {"name": "two"}})
    assert code == 409 and neutron_error(doc, "OverQuota")
    assert snapshot() == before
    details = alice.ok("GET", "/v2.0/quotas/proj-a/details")["quota"]["network"]
    assert details == {"limit": 1, "used": 1, "reserved": 0}
    admin.ok("DELETE", "/v2.0/quotas/proj-a", status=204)
    assert alice.ok("GET", "/v2.0/quotas/proj-a")["quota"]["network"] == 100


def test_stateless_groups_reach_the_driver_and_are_not_mixed(alice, driver, alice_net, snapshot):
    net, _ = alice_net
    loose = alice.ok("POST", "/v2.0/security-groups", {"security_group": {"name": "loose", "stateful": False}},
                     status=201)["security_group"]
    assert loose["stateful"] is False
    default = alice.ok("GET", "/v2.0/security-groups", name="default")["security_groups"][0]
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"], "security_groups": [loose["id"]]}},
                    status=201)["port"]
    plain = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}}, status=201)["port"]
    states = {p.id: p.stateful for p in driver.topology.ports}
    assert states[port["id"]] is False and states[plain["id"]] is True
    before = snapshot()
    code, doc = alice.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                                    "security_groups": [loose["id"], default["id"]]}})
    assert code == 400 and "security_groups" in neutron_error(doc), doc
    code, doc = alice.put(f"/v2.0/ports/{plain['id']}", {"port": {"security_groups": [default["id"], loose["id"]]}})
    assert code == 400 and "stateless" in neutron_error(doc), doc
    code, doc = alice.put(f"/v2.0/security-groups/{loose['id']}", {"security_group": {"stateful": True}})
    assert code == 409 and neutron_error(doc, "SecurityGroupInUse"), doc
    assert snapshot() == before
    alice.ok("DELETE", f"/v2.0/ports/{port['id']}", status=204)
    assert alice.ok("PUT", f"/v2.0/security-groups/{loose['id']}", {"security_group": {"stateful": True}})[
        "security_group"]["stateful"] is True
