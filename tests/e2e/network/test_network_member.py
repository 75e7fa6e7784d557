"""e2e: networking as ordinary users (member, reader, another project's member) with the real CLI and openstacksdk."""
from __future__ import annotations

import json
import os

import openstack.exceptions
import pytest
import requests

from appliance.testing.cloud import FORBIDDEN, RunningCloud, assert_cli_refused

pytestmark = pytest.mark.e2e

_NOT_FOUND = ("HTTP 404", "404", "No Network found", "No Port found", "No Router found", "No SecurityGroup found",
              "No FloatingIP found", "No Subnet found", "not found", "Could not find", "Unable to find")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the network service's data plane needs root (namespaces, nftables), as on the build machines")
    state = tmp_path_factory.mktemp("netmember").absolute()
    extra = {"EGRET_SERVICE": json.dumps({"network": {"cleanup_on_exit": True}})}
    c = RunningCloud(state, services=["identity", "network"], extra_env=extra).start()
    yield c
    assert c.stop() == 0


@pytest.fixture(scope="module")
def users(cloud):
    """The admin makes the projects, the users and the external network; everything else runs as them."""
    cloud.openstack_json("network", "create", "--external", "--provider-network-type", "flat",
                         "--provider-physical-network", "public", "public")
    cloud.openstack_json("subnet", "create", "--network", "public", "--subnet-range", "203.0.113.0/24", "--no-dhcp",
                         "--gateway", "203.0.113.1", "--allocation-pool", "start=203.0.113.10,end=203.0.113.50",
                         "public-sub")
    return {"alice": cloud.add_user("alice", "proj-a"), "rita": cloud.add_user("rita", "proj-a", "reader"),
            "bob": cloud.add_user("bob", "proj-b")}


@pytest.fixture(scope="module")
def alice_topology(users):
    """alice's network, subnet, router (interface + gateway), port, security group and floating IP, by the CLI."""
    alice = users["alice"]
    js, osc = alice.openstack_json, alice.openstack
    net = js("network", "create", "a-net")
    assert net["project_id"] == alice.project_id and net["router:external"] is False
    sub = js("subnet", "create", "--network", "a-net", "--subnet-range", "10.90.0.0/24", "a-sub")
    assert sub["gateway_ip"] == "10.90.0.1" and sub["project_id"] == alice.project_id
    router = js("router", "create", "a-r")
    osc("router", "add", "subnet", "a-r", "a-sub")
    osc("router", "set", "--external-gateway", "public", "a-r")
    router = js("router", "show", "a-r")
    assert router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"].startswith("203.0.113.")
    sg = js("security", "group", "create", "--description", "web", "a-sg")
    rule = js("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "a-sg")
    assert rule["port_range_min"] == 22 and rule["security_group_id"] == sg["id"]
    port = js("port", "create", "--network", "a-net", "--security-group", "a-sg", "a-port")
    assert port["fixed_ips"][0]["ip_address"].startswith("10.90.0.") and port["security_group_ids"] == [sg["id"]]
    fip = js("floating", "ip", "create", "public")
    assert fip["floating_ip_address"].startswith("203.0.113.") and fip["project_id"] == alice.project_id
    osc("floating", "ip", "set", "--port", "a-port", fip["floating_ip_address"])
    assert js("floating", "ip", "show", fip["id"])["port_id"] == port["id"]
    return {"net": net, "sub": sub, "router": router, "sg": sg, "rule": rule, "port": port, "fip": fip}


def test_member_admin_only_attributes_are_403(cloud, users, alice_topology):
    alice = users["alice"]
    for args in (("network", "create", "--provider-network-type", "flat", "--provider-physical-network", "public",
                  "a-flat"),
                 ("network", "create", "--external", "a-ext"),
                 ("network", "create", "--share", "a-shared"),
                 ("network", "set", "--share", "a-net"),
                 ("network", "set", "--external", "a-net"),
                 ("port", "create", "--network", "a-net", "--host", "node-1", "a-bound")):
        assert_cli_refused(alice.openstack(*args, check=False))
    names = {n["Name"] for n in alice.openstack_json("network", "list")}
    assert not names & {"a-flat", "a-ext", "a-shared"} and "a-net" in names
    # the refusal is Neutron's own error body
    resp = requests.post(cloud.url("network", "/v2.0/networks"), headers={"X-Auth-Token": alice.token()},
                         json={"network": {"name": "a-raw", "router:external": True}})
    assert resp.status_code == 403 and resp.json()["NeutronError"]["message"], resp.text
    assert alice.openstack_json("network", "show", "a-net")["shared"] is False


def test_reader_reads_and_every_write_is_403(users, alice_topology):
    rita, t = users["rita"], alice_topology
    assert t["net"]["id"] in {n["ID"] for n in rita.openstack_json("network", "list")}
    assert rita.openstack_json("subnet", "show", t["sub"]["id"])["cidr"] == "10.90.0.0/24"
    assert rita.openstack_json("router", "show", t["router"]["id"])["name"] == "a-r"
    assert t["port"]["id"] in {p["ID"] for p in rita.openstack_json("port", "list")}
    assert t["sg"]["id"] in {s["ID"] for s in rita.openstack_json("security", "group", "list")}
    assert rita.openstack_json("floating", "ip", "show", t["fip"]["id"])["port_id"] == t["port"]["id"]
    writes = [("network", "create", "r-net"), ("network", "set", "--name", "x", t["net"]["id"]),
              ("network", "delete", t["net"]["id"]),
              ("subnet", "create", "--network", t["net"]["id"], "--subnet-range", "10.91.0.0/24", "r-sub"),
              ("subnet", "set", "--name", "x", t["sub"]["id"]), ("subnet", "delete", t["sub"]["id"]),
              ("router", "create", "r-r"), ("router", "set", "--name", "x", t["router"]["id"]),
              ("router", "delete", t["router"]["id"]),
              ("port", "create", "--network", t["net"]["id"], "r-port"), ("port", "set", "--name", "x",
                                                                          t["port"]["id"]),
              ("port", "delete", t["port"]["id"]),
              ("security", "group", "create", "r-sg"), ("security", "group", "set", "--name", "x", t["sg"]["id"]),
              ("security", "group", "delete", t["sg"]["id"]),
              ("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80", t["sg"]["id"]),
              ("security", "group", "rule", "delete", t["rule"]["id"]),
              ("floating", "ip", "create", "public"), ("floating", "ip", "unset", "--port", t["fip"]["id"]),
              ("floating", "ip", "delete", t["fip"]["id"])]
    for args in writes:
        assert_cli_refused(rita.openstack(*args, check=False), *FORBIDDEN, "Failed to delete")
    # nothing changed
    alice = users["alice"]
    assert alice.openstack_json("network", "show", t["net"]["id"])["name"] == "a-net"
    assert alice.openstack_json("port", "show", t["port"]["id"])["name"] == "a-port"
    assert alice.openstack_json("floating", "ip", "show", t["fip"]["id"])["port_id"] == t["port"]["id"]
    assert t["rule"]["id"] in {r["ID"] for r in alice.openstack_json("security", "group", "rule", "list", "a-sg")}
    assert {n["Name"] for n in alice.openstack_json("network", "list")} >= {"a-net"}
    assert not {n["Name"] for n in alice.openstack_json("network", "list")} & {"r-net"}


def test_reader_sdk_writes_are_forbidden(users, alice_topology):
    conn = users["rita"].connection()
    try:
        assert alice_topology["net"]["id"] in {n.id for n in conn.network.networks()}
        with pytest.raises(openstack.exceptions.ForbiddenException):
            conn.network.create_network(name="r-sdk")
        with pytest.raises(openstack.exceptions.ForbiddenException):
            conn.network.create_port(network_id=alice_topology["net"]["id"])
        with pytest.raises(openstack.exceptions.ForbiddenException):
            conn.network.delete_security_group(alice_topology["sg"]["id"], ignore_missing=False)
    finally:
        conn.close()


def test_other_project_sees_and_touches_nothing(users, alice_topology):
    bob, t = users["bob"], alice_topology
    js = bob.openstack_json
    assert t["net"]["id"] not in {n["ID"] for n in js("network", "list")}
    assert "public" in {n["Name"] for n in js("network", "list")}  # the external network is everyone's
    assert t["sub"]["id"] not in {s["ID"] for s in js("subnet", "list")}
    assert t["port"]["id"] not in {p["ID"] for p in js("port", "list")}
    assert t["router"]["id"] not in {r["ID"] for r in js("router", "list")}
    assert t["sg"]["id"] not in {s["ID"] for s in js("security", "group", "list")}
    assert t["fip"]["id"] not in {f["ID"] for f in js("floating", "ip", "list")}
    for kind, key in ((("network",), "net"), (("subnet",), "sub"), (("port",), "port"), (("router",), "router"),
                      (("security", "group"), "sg"), (("floating", "ip"), "fip")):
        assert_cli_refused(bob.openstack(*kind, "show", t[key]["id"], check=False), *_NOT_FOUND)
        assert_cli_refused(bob.openstack(*kind, "delete", t[key]["id"], check=False), *_NOT_FOUND, "Failed to delete")
    assert_cli_refused(bob.openstack("security", "group", "rule", "delete", t["rule"]["id"], check=False),
                       *_NOT_FOUND, "Failed to delete")
    # no port on alice's private network, not even by its id
    assert_cli_refused(bob.openstack("port", "create", "--network", t["net"]["id"], "b-port", check=False), *_NOT_FOUND)
    # nor a router interface on alice's subnet
    bob.openstack("router", "create", "b-r")
    assert_cli_refused(bob.openstack("router", "add", "subnet", "b-r", t["sub"]["id"], check=False), *_NOT_FOUND)
    bob.openstack("router", "delete", "b-r")
    # alice's things are untouched
    alice = users["alice"]
    assert alice.openstack_json("floating", "ip", "show", t["fip"]["id"])["port_id"] == t["port"]["id"]
    assert alice.openstack_json("router", "show", "a-r")["external_gateway_info"]["network_id"]


def test_member_sdk_workflow(users):
    conn = users["bob"].connection()
    try:
        net = conn.network.create_network(name="b-sdk-net")
        sub = conn.network.create_subnet(network_id=net.id, cidr="10.92.0.0/24", ip_version=4, name="b-sdk-sub")
        sg = conn.network.create_security_group(name="b-sdk-sg", description="sdk")
        rule = conn.network.create_security_group_rule(security_group_id=sg.id, direction="ingress",
                                                       protocol="tcp", port_range_min=443, port_range_max=443,
                                                       ethertype="IPv4")
        port = conn.network.create_port(network_id=net.id, security_group_ids=[sg.id], name="b-sdk-port")
        assert port.fixed_ips[0]["subnet_id"] == sub.id and port.security_group_ids == [sg.id]
        assert net.project_id == users["bob"].project_id
        assert port.id in {p.id for p in conn.network.ports(network_id=net.id)}
        assert rule.id in {r.id for r in conn.network.security_group_rules(security_group_id=sg.id)}
        # the cloud layer (what Ansible uses) sees the same
        assert net.id in {n.id for n in conn.list_networks()}
        conn.network.delete_port(port)
        conn.network.delete_security_group_rule(rule)
        conn.network.delete_security_group(sg)
        conn.network.delete_subnet(sub)
        conn.network.delete_network(net)
        assert net.id not in {n.id for n in conn.network.networks()}
    finally:
        conn.close()
    # and alice never saw bob's
    assert "b-sdk-net" not in {n["Name"] for n in users["alice"].openstack_json("network", "list")}


def test_member_tears_down_its_topology(users, alice_topology):
    alice, t = users["alice"], alice_topology
    osc = alice.openstack
    osc("floating", "ip", "unset", "--port", t["fip"]["id"])
    assert alice.openstack_json("floating", "ip", "show", t["fip"]["id"])["port_id"] is None
    osc("floating", "ip", "delete", t["fip"]["id"])
    osc("port", "delete", "a-port")
    osc("security", "group", "rule", "delete", t["rule"]["id"])
    osc("security", "group", "delete", "a-sg")
    osc("router", "unset", "--external-gateway", "a-r")
    osc("router", "remove", "subnet", "a-r", "a-sub")
    osc("router", "delete", "a-r")
    osc("subnet", "delete", "a-sub")
    osc("network", "delete", "a-net")
    assert [n["Name"] for n in alice.openstack_json("network", "list")] == ["public"]
    assert alice.openstack_json("router", "list") == []
    assert alice.openstack_json("floating", "ip", "list") == []
