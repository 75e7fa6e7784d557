"""Time-sensitive networking through the network API: TSN schedules on a real multi-queue interface and VLAN
priority maps on a real 802.1Q link, applied with pyroute2 and held by the kernel exactly as iproute2 would have
made them; schedules are reconciled after drift and removed with the network.

The build machines' kernel has neither the TSN qdiscs nor 802.1Q (DESIGN.md §9): this runs inside the appliance
image (tests/image/test_image_suites.py), whose Debian kernel has them."""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from network_dp_support import send_udp, sh
from services.network.conf import section

PRIO_MAP = [2, 2, 1, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
TAPRIO = {
    "qdisc": "taprio", "num_tc": 3, "priority_map": PRIO_MAP,
    "queues": [{"count": 1, "offset": 0}, {"count": 1, "offset": 1}, {"count": 2, "offset": 2}],
    "base_time": 1_000_000_000, "clockid": "CLOCK_TAI",
    "entries": [{"command": "set-gates", "gate_mask": 1, "interval": 300_000},
                {"command": "set-gates", "gate_mask": 2, "interval": 300_000},
                {"command": "set-gates", "gate_mask": 4, "interval": 400_000}],
    "etf": [{"queue": 0, "delta": 300_000}],
    "cbs": [{"queue": 1, "idleslope": 20_000, "sendslope": -980_000, "hicredit": 30, "locredit": -1470}],
}
# the same schedule as iproute2 spells it
TAPRIO_TC = [
    ["root", "handle", "100:", "taprio", "num_tc", "3", "map", *map(str, PRIO_MAP), "queues", "1@0", "1@1", "2@2",
     "base-time", "1000000000", "sched-entry", "S", "01", "300000", "sched-entry", "S", "02", "300000",
     "sched-entry", "S", "04", "400000", "clockid", "CLOCK_TAI"],
    ["parent", "100:1", "etf", "clockid", "CLOCK_TAI", "delta", "300000"],
    ["parent", "100:2", "cbs", "idleslope", "20000", "sendslope", "-980000", "hicredit", "30", "locredit", "-1470"],
]
MQPRIO = {"qdisc": "mqprio", "num_tc": 2, "priority_map": [1, 0], "queues": [{"count": 4, "offset": 0},
                                                                          {"count": 4, "offset": 4}]}
MQPRIO_TC = [["root", "handle", "100:", "mqprio", "num_tc", "2", "map", "1", "0", "queues", "4@0", "4@4", "hw", "0"]]


@pytest.fixture
def tsn_cloud(cloud):
    if not cloud.driver.tsn_supported():
        pytest.skip("no taprio/mqprio/etf/cbs on this kernel (DESIGN.md §9); tested inside the appliance image")
    cloud.sync()            # the uplink (the physical network's interface: a veth with 8 queues) exists from here
    return cloud


def qdiscs(dev: str, netns: str | None = None) -> list[dict]:
    """`tc -j qdisc show`, without what differs between two devices holding the same configuration (a child
    qdisc's handle is whatever the kernel picked)."""
    cmd = (["ip", "netns", "exec", netns] if netns else []) + ["tc", "-j", "qdisc", "show", "dev", dev]
    shown = json.loads(sh(*cmd).stdout)
    return sorted(({k: v for k, v in q.items() if k not in ("refcnt", "dev") and (k != "handle" or q.get("root"))}
                   for q in shown if q["kind"] in ("taprio", "mqprio", "etf", "cbs")),
                  key=lambda q: q.get("parent", ""))


def iproute2_reference(net_env, tc_commands: list[list[str]]) -> list[dict]:
    """What iproute2 makes of the same schedule, on a twin of the uplink (8 queues) in the upstream namespace."""
    ns = net_env["ext"]
    sh("ip", "-n", ns, "link", "add", "name", "tsnref", "numtxqueues", "8", "numrxqueues", "8", "type", "veth",
       "peer", "name", "tsnrefb", "numtxqueues", "8", "numrxqueues", "8")
    try:
        sh("ip", "-n", ns, "link", "set", "tsnref", "up")
        for args in tc_commands:
            sh("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "tsnref", *args)
        time.sleep(0.2)             # both schedules past their base time: the running one is shown
        return qdiscs("tsnref", ns)
    finally:
        sh("ip", "-n", ns, "link", "del", "tsnref")


def test_taprio_schedule_through_the_api_is_what_iproute2_makes(tsn_cloud, net_env):
    cloud = tsn_cloud
    uplink = section(net_env["settings"])["physical_interface_mappings"]["public"]
    net = cloud.admin("POST", "/v2.0/networks", {"network": {
        "name": "cell", "provider:network_type": "flat", "provider:physical_network": "public",
        "tsn:schedule": TAPRIO}})["network"]
    assert net["tsn:schedule"]["cycle_time"] == 1_000_000          # the sum of the intervals, when not given
    cloud.sync()
    time.sleep(0.2)
    held = qdiscs(uplink)
    assert [q["kind"] for q in held] == ["taprio", "etf", "cbs"], held
    assert held == iproute2_reference(net_env, TAPRIO_TC)
    assert cloud.driver.inventory()["tsn_interfaces"] == [uplink]

    # drift: someone removes the schedule by hand; the next reconcile puts it back
    sh("tc", "qdisc", "del", "dev", uplink, "root")
    assert qdiscs(uplink) == []
    cloud.sync()
    time.sleep(0.2)
    assert qdiscs(uplink) == held

    # a schedule wider than the NIC is refused by field and changes nothing
    wide = {**MQPRIO, "queues": [{"count": 4, "offset": 0}, {"count": 4, "offset": 6}]}
    err = cloud.admin("PUT", f"/v2.0/networks/{net['id']}", {"network": {"tsn:schedule": wide}}, status=400)
    assert "tsn:schedule.queues[1]" in err["NeutronError"]["message"]
    assert "8 transmit queues" in err["NeutronError"]["message"]
    cloud.sync()
    assert qdiscs(uplink) == held

    # another schedule replaces the whole tree
    cloud.admin("PUT", f"/v2.0/networks/{net['id']}", {"network": {"tsn:schedule": MQPRIO}})
    cloud.sync()
    held = qdiscs(uplink)
    assert [q["kind"] for q in held] == ["mqprio"]
    assert held == iproute2_reference(net_env, MQPRIO_TC)

    # no schedule: the interface is back on its default qdisc
    cloud.admin("PUT", f"/v2.0/networks/{net['id']}", {"network": {"tsn:schedule": None}})
    cloud.sync()
    assert qdiscs(uplink) == [] and cloud.driver.inventory()["tsn_interfaces"] == []


def test_schedule_is_the_operators_and_one_per_interface(tsn_cloud, net_env):
    cloud = tsn_cloud
    uplink = section(net_env["settings"])["physical_interface_mappings"]["public"]
    # a member cannot shape the host's NIC
    cloud.a("POST", "/v2.0/networks", {"network": {"name": "mine", "tsn:schedule": MQPRIO}}, status=403)
    net = cloud.admin("POST", "/v2.0/networks", {"network": {
        "name": "cell", "provider:network_type": "flat", "provider:physical_network": "public",
        "tsn:schedule": MQPRIO}})["network"]
    # the interface has one schedule: a second network on it cannot bring its own
    if cloud.driver.vlan_supported():
        err = cloud.admin("POST", "/v2.0/networks", {"network": {
            "provider:network_type": "vlan", "provider:physical_network": "public", "provider:segmentation_id": 7,
            "tsn:schedule": TAPRIO}}, status=409)
        assert net["id"] in err["NeutronError"]["message"]
    cloud.sync()
    assert [q["kind"] for q in qdiscs(uplink)] == ["mqprio"]
    # deleting the network removes its schedule from the interface
    cloud.admin("DELETE", f"/v2.0/networks/{net['id']}")
    cloud.sync()
    assert qdiscs(uplink) == []


def vlan_maps(dev: str, netns: str | None = None) -> dict:
    """The egress and ingress priority maps of a VLAN link, as `ip -d -j link show` reports them."""
    cmd = (["ip", "-n", netns] if netns else ["ip"]) + ["-d", "-j", "link", "show", dev]
    data = json.loads(sh(*cmd).stdout)[0]["linkinfo"]["info_data"]
    return {k: data.get(k) for k in ("egress_qos", "ingress_qos")}


def test_vlan_priority_maps_are_what_iproute2_makes(cloud, net_env):
    if not cloud.driver.vlan_supported():
        pytest.skip("no 802.1Q on this kernel (DESIGN.md §9); tested inside the appliance image")
    egress = [{"priority": 5, "pcp": 5}, {"priority": 0, "pcp": 1}, {"priority": 7, "pcp": 6}]
    ingress = [{"pcp": 5, "priority": 5}, {"pcp": 6, "priority": 7}]
    net = cloud.admin("POST", "/v2.0/networks", {"network": {
        "name": "cell", "provider:network_type": "vlan", "provider:physical_network": "public",
        "provider:segmentation_id": 301, "vlan:egress_qos_map": egress, "vlan:ingress_qos_map": ingress}})["network"]
    assert [e["priority"] for e in net["vlan:egress_qos_map"]] == [0, 5, 7]
    cloud.sync()
    ours = vlan_maps("vl-" + net["id"][:11])
    ns = net_env["ext"]
    sh("ip", "-n", ns, "link", "add", "link", "br-up", "name", "ref.301", "type", "vlan", "id", "301",
       "egress-qos-map", "0:1", "5:5", "7:6", "ingress-qos-map", "5:5", "6:7")
    assert ours == vlan_maps("ref.301", ns) and ours["egress_qos"], ours
    # a mapping taken out is gone from the kernel too; a bad PCP changes nothing
    err = cloud.admin("PUT", f"/v2.0/networks/{net['id']}", {"network": {
        "vlan:egress_qos_map": [{"priority": 5, "pcp": 8}]}}, status=400)
    assert "vlan:egress_qos_map[0].pcp" in err["NeutronError"]["message"]
    cloud.admin("PUT", f"/v2.0/networks/{net['id']}", {"network": {"vlan:egress_qos_map": egress[:1],
                                                                   "vlan:ingress_qos_map": None}})
    cloud.sync()
    sh("ip", "-n", ns, "link", "set", "ref.301", "type", "vlan", "egress-qos-map", "0:0", "7:0",
       "ingress-qos-map", "5:0", "6:0")
    assert vlan_maps("vl-" + net["id"][:11]) == vlan_maps("ref.301", ns)
    assert [m["to"] for m in vlan_maps("vl-" + net["id"][:11])["egress_qos"]] == [5]


# In the upstream namespace: the first UDP datagram to PORT on VLAN VID, from the frame's 802.1Q tag (in the frame,
# or in the packet socket's auxdata when the tag travels beside it): prints "<PCP> <DSCP>"
TAG_READER = """
import socket, struct, sys
vid, port = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(263, 8, 1)   # SOL_PACKET, PACKET_AUXDATA
s.settimeout(15)
print("ready", flush=True)
while True:
    data, anc, _, _ = s.recvmsg(2048, 256)
    tci, ip = None, data[14:]
    if data[12:14] == b"\\x81\\x00":
        tci, ip = struct.unpack("!H", data[14:16])[0], data[18:] if data[16:18] == b"\\x08\\x00" else b""
    elif data[12:14] == b"\\x08\\x00":
        for level, kind, value in anc:
            status, *_, vlan_tci, _ = struct.unpack("IIIHHHH", value[:20])
            if level == 263 and kind == 8 and status & 0x10:
                tci = vlan_tci
    if tci is None or tci & 0xFFF != vid or len(ip) < 28 or ip[9] != 17:
        continue
    if struct.unpack("!H", ip[(ip[0] & 15) * 4 + 2:][:2])[0] == port:
        print(tci >> 13, ip[1] >> 2, flush=True)
        break
"""


def test_dscp_marking_gives_the_vlan_pcp(cloud, net_env):
    """A port's DSCP mark sets its packets' priority to the mark's class; the VLAN network's egress map sends that
    priority as the PCP of the 802.1Q tag on the wire."""
    if not cloud.driver.vlan_supported():
        pytest.skip("no 802.1Q on this kernel (DESIGN.md §9); tested inside the appliance image")
    net = cloud.admin("POST", "/v2.0/networks", {"network": {
        "name": "voice", "provider:network_type": "vlan", "provider:physical_network": "public",
        "provider:segmentation_id": 302, "shared": True,
        "vlan:egress_qos_map": [{"priority": 5, "pcp": 5}, {"priority": 4, "pcp": 3}]}})["network"]
    cloud.admin("POST", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.78.0.0/24",
                                                     "ip_version": 4, "enable_dhcp": False}})
    policy = cloud.admin("POST", "/v2.0/qos/policies", {"policy": {"name": "ef", "shared": True}})["policy"]
    rule = cloud.admin("POST", f"/v2.0/qos/policies/{policy['id']}/dscp_marking_rules",
                       {"dscp_marking_rule": {"dscp_mark": 46}})["dscp_marking_rule"]
    vm = cloud.vm(cloud.port(cloud.a, net, qos_policy_id=policy["id"]))
    vm.run("ip", "addr", "add", f"{vm.ip}/24", "dev", "eth0")
    vm.run("ip", "link", "set", "eth0", "up")
    cloud.sync()

    def on_the_wire(port: int) -> tuple[int, int]:
        reader = subprocess.Popen(["ip", "netns", "exec", net_env["ext"], "python3", "-c", TAG_READER, "302",
                                   str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert reader.stdout.readline().strip() == "ready"
        send_udp(vm.name, "10.78.0.255", port)
        out, err = reader.communicate(timeout=30)
        assert reader.returncode == 0, err
        pcp, dscp = map(int, out.split())
        return pcp, dscp
    assert on_the_wire(5201) == (5, 46)           # EF: class 5, mapped to PCP 5
    cloud.admin("PUT", f"/v2.0/qos/policies/{policy['id']}/dscp_marking_rules/{rule['id']}",
                {"dscp_marking_rule": {"dscp_mark": 34}})
    cloud.sync()
    assert on_the_wire(5202) == (3, 34)           # AF41: class 4, which the map sends as PCP 3
