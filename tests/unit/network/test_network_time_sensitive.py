"""Time-sensitive networking: every refusal of a TSN schedule or a VLAN priority map names its field; the netlink
encoding is the kernel's uapi layout; the API on the fake driver keeps both the operator's, one schedule per
interface, and changes nothing on bad input."""
from __future__ import annotations

import struct

import pytest
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from services.network import pcp, tsn
from services.network.drivers.linux import tsn_netlink

TWO = {"num_tc": 2, "queues": [{"count": 1, "offset": 0}, {"count": 1, "offset": 1}]}
TAPRIO = {"qdisc": "taprio", **TWO, "priority_map": [1, 0], "base_time": 5,
          "entries": [{"gate_mask": 1, "interval": 300_000}, {"command": "set-and-hold", "gate_mask": 3,
                                                              "interval": 700_000}],
          "etf": [{"queue": 0, "delta": 200_000, "deadline_mode": True}],
          "cbs": [{"queue": 1, "idleslope": 1000, "sendslope": -9000, "hicredit": 10, "locredit": -90}]}


def bad(schedule: dict, queues: int | None = 8) -> str:
    with pytest.raises(tsn.ScheduleError) as exc:
        tsn.normalize(schedule, queues)
    return str(exc.value)


@pytest.mark.parametrize("change, field, words", [
    ({"cycle_time": 999_999}, "tsn:schedule.cycle_time", "shorter than the sum"),
    ({"entries": [{"gate_mask": 4, "interval": 1000}]}, "tsn:schedule.entries[0].gate_mask", "beyond the 2"),
    ({"queues": [{"count": 1, "offset": 0}, {"count": 8, "offset": 1}]}, "tsn:schedule.queues[1]",
     "8 transmit queues"),
    ({"priority_map": [0, 2]}, "tsn:schedule.priority_map[1]", "traffic class 2 does not exist"),
    ({"priority_map": [0] * 17}, "tsn:schedule.priority_map", "too long"),
    ({"queues": [{"count": 2, "offset": 0}, {"count": 1, "offset": 1}]}, "tsn:schedule.queues[1]",
     "inside or before traffic class 0's range"),
    ({"queues": [{"count": 1, "offset": 1}, {"count": 1, "offset": 0}]}, "tsn:schedule.queues[1]",
     "ranges go up with the traffic class"),
    ({"queues": [{"count": 1, "offset": 0}]}, "tsn:schedule.queues", "one range per traffic class"),
    ({"num_tc": 17}, "tsn:schedule.num_tc", "greater than the maximum"),
    ({"etf": [{"queue": 5, "delta": 1}]}, "tsn:schedule.etf[0].queue", "in no traffic class"),
    ({"etf": [{"queue": 1, "delta": 1}]}, "tsn:schedule.cbs[0].queue", "already has etf"),
    ({"etf": [{"queue": 0, "delta": 1, "clockid": "CLOCK_REALTIME"}]}, "tsn:schedule.etf[0].clockid", "CLOCK_TAI"),
    ({"cbs": [{"queue": 1, "idleslope": 1, "sendslope": 5, "hicredit": 0, "locredit": 0}]},
     "tsn:schedule.cbs[0].sendslope", "maximum"),
    ({"entries": []}, "tsn:schedule.entries", "non-empty"),
    ({"entries": [{"gate_mask": 1, "interval": 0}]}, "tsn:schedule.entries[0].interval", "minimum"),
    ({"mode": "txtime-assist"}, "tsn:schedule.txtime_delay", "required"),
    ({"txtime_delay": 10}, "tsn:schedule.txtime_delay", "only used in txtime-assist"),
    ({"mode": "full-offload", "clockid": "CLOCK_TAI"}, "tsn:schedule.clockid", "full-offload"),
    ({"surprise": 1}, "tsn:schedule", "surprise"),
    ({"qdisc": "mqprio"}, "tsn:schedule.base_time", "taprio setting"),
])
def test_every_refusal_names_its_field(change, field, words):
    message = bad({**TAPRIO, **change})
    assert message.startswith(field), message
    assert words in message, message


def test_canonical_form_is_complete_and_stable():
    canon = tsn.normalize(TAPRIO, 2)
    assert canon["cycle_time"] == 1_000_000 and canon["clockid"] == "CLOCK_TAI" and canon["mode"] == "software"
    assert canon["priority_map"] == [1, 0] + [0] * 14
    assert canon["entries"][0]["command"] == "set-gates"
    assert canon["etf"] == [{"queue": 0, "delta": 200_000, "clockid": "CLOCK_TAI", "deadline_mode": True,
                             "offload": False, "skip_sock_check": False}]
    assert tsn.normalize(canon, 2) == canon
    # the queue count is only checked when the NIC is known
    assert tsn.normalize({**TAPRIO, "queues": [{"count": 1, "offset": 0}, {"count": 9, "offset": 1}]}, None)


def _options(kind: str, schedule: dict) -> bytes:
    """TCA_OPTIONS as pyroute2 puts it on the wire (header stripped)."""
    msg = tcmsg()
    msg["attrs"] = [["TCA_KIND", kind], ["TCA_OPTIONS", tsn_netlink.plugins[kind].get_parameters({"tsn": schedule})]]
    msg.encode()
    raw = bytes(msg.data[:msg["header"]["length"]])
    kind_len = struct.unpack_from("=H", raw, 36)[0]
    start = 36 + (kind_len + 3) // 4 * 4
    length, number = struct.unpack_from("=HH", raw, start)
    assert number & 0x3FFF == 2          # TCA_OPTIONS
    return raw[start + 4:start + length]


def nla(number: int, payload: bytes) -> bytes:
    head = struct.pack("=HH", 4 + len(payload), number)
    return head + payload + b"\0" * (-len(payload) % 4)


def qopt(num_tc, prio, counts, offsets) -> bytes:
    """struct tc_mqprio_qopt: u8 num_tc, u8 prio_tc_map[16], u8 hw, u16 count[16], u16 offset[16]."""
    pad = [0] * (16 - len(counts))
    return struct.pack("=B16BB16H16H", num_tc, *prio, 0, *counts, *pad, *offsets, *pad)


def test_netlink_encoding_is_the_uapi_layout():
    canon = tsn.normalize(TAPRIO, 2)
    prio = [1, 0] + [0] * 14
    entries = b"".join(nla(1, nla(2, struct.pack("=B", cmd)) + nla(3, struct.pack("=I", mask))
                           + nla(4, struct.pack("=I", interval)))
                       for cmd, mask, interval in ((0, 1, 300_000), (1, 3, 700_000)))
    assert _options("taprio", canon) == (nla(1, qopt(2, prio, [1, 1], [0, 1])) + nla(3, struct.pack("=q", 5))
                                         + nla(2, entries) + nla(8, struct.pack("=q", 1_000_000))
                                         + nla(5, struct.pack("=i", 11)))
    # struct tc_etf_qopt {s32 delta; s32 clockid; u32 flags} with TC_ETF_DEADLINE_MODE_ON
    assert _options("etf", canon["etf"][0]) == nla(1, struct.pack("=iiI", 200_000, 11, 1))
    # struct tc_cbs_qopt {u8 offload; u8 pad[3]; s32 hicredit, locredit, idleslope, sendslope}
    assert _options("cbs", canon["cbs"][0]) == nla(1, struct.pack("=B3xiiii", 0, 10, -90, 1000, -9000))
    # mqprio's options are the bare struct
    mq = tsn.normalize({"qdisc": "mqprio", **TWO}, 2)
    assert _options("mqprio", mq)[:82] == qopt(2, [0] * 16, [1, 1], [0, 1])


def test_decoding_a_dump_gives_back_the_canonical_schedule():
    canon = tsn.normalize({**TAPRIO, "mode": "txtime-assist", "txtime_delay": 500}, 2)
    msg = tcmsg()
    msg["attrs"] = [["TCA_KIND", "taprio"], ["TCA_OPTIONS", tsn_netlink.plugins["taprio"].get_parameters(
        {"tsn": canon})]]
    msg.encode()
    back = tcmsg(bytes(msg.data[:msg["header"]["length"]]))
    back.decode()
    assert tsn_netlink.decode_root(back) == {k: v for k, v in canon.items() if k not in ("etf", "cbs")}


# ------------------------------------------------------------------------------------------------------- the API
MQ = {"qdisc": "mqprio", **TWO}


def _flat(admin, schedule, physnet="public", status=201):
    return admin.ok("POST", "/v2.0/networks", {"network": {
        "name": "cell", "provider:network_type": "flat", "provider:physical_network": physnet,
        "tsn:schedule": schedule}}, status=status)


def test_extension_is_listed(alice):
    assert alice.ok("GET", "/v2.0/extensions/tsn")["extension"]["alias"] == "tsn"


def test_admin_schedules_a_provider_network_and_the_driver_holds_it(admin, alice, driver):
    net = _flat(admin, TAPRIO)["network"]
    assert net["tsn:schedule"] == tsn.normalize(TAPRIO, 8)
    assert driver.inventory()["tsn_interfaces"] == [driver.mappings["public"]]
    assert driver.topology.networks[0].tsn == net["tsn:schedule"]
    # another schedule, then none
    changed = admin.ok("PUT", f"/v2.0/networks/{net['id']}", {"network": {"tsn:schedule": MQ}})["network"]
    assert changed["tsn:schedule"]["qdisc"] == "mqprio" and driver.inventory()["tsn_interfaces"] != []
    admin.ok("PUT", f"/v2.0/networks/{net['id']}", {"network": {"tsn:schedule": None}})
    assert driver.inventory()["tsn_interfaces"] == []
    # a member sees the schedule of a network shared with it but cannot set one
    admin.ok("PUT", f"/v2.0/networks/{net['id']}", {"network": {"shared": True, "tsn:schedule": MQ}})
    assert alice.ok("GET", f"/v2.0/networks/{net['id']}")["network"]["tsn:schedule"]["qdisc"] == "mqprio"
    code, _ = alice.put(f"/v2.0/networks/{net['id']}", {"network": {"tsn:schedule": None}})
    assert code in (403, 404)
    assert admin.ok("GET", f"/v2.0/networks/{net['id']}")["network"]["tsn:schedule"]["qdisc"] == "mqprio"


def test_bad_schedules_are_refused_by_field_and_change_nothing(admin, alice, snapshot, driver):
    before = snapshot()
    code, doc = alice.post("/v2.0/networks", {"network": {"name": "x", "tsn:schedule": MQ}})
    assert code == 403
    for schedule, words in (({**MQ, "queues": [{"count": 1, "offset": 0}, {"count": 2, "offset": 7}]},
                             "tsn:schedule.queues[1]: queues 7-8 exceed the NIC's 8 transmit queues"),
                            ({**TAPRIO, "cycle_time": 10}, "tsn:schedule.cycle_time"),
                            ("taprio", "tsn:schedule"), ({**MQ, "num_tc": "2"}, "tsn:schedule.num_tc")):
        code, doc = admin.post("/v2.0/networks", {"network": {
            "provider:network_type": "flat", "provider:physical_network": "public", "tsn:schedule": schedule}})
        assert code == 400 and words in doc["NeutronError"]["message"], doc
    code, doc = admin.post("/v2.0/networks", {"network": {"name": "v", "tsn:schedule": MQ}})
    assert code == 400 and "flat and vlan provider networks" in doc["NeutronError"]["message"]
    assert snapshot() == before


def test_one_schedule_per_interface(admin, snapshot):
    net = _flat(admin, MQ)["network"]
    before = snapshot()
    code, doc = admin.post("/v2.0/networks", {"network": {
        "provider:network_type": "vlan", "provider:physical_network": "public", "provider:segmentation_id": 5,
        "tsn:schedule": MQ}})
    assert code == 409 and doc["NeutronError"]["type"] == "TsnScheduleInUse" and net["id"] in str(doc)
    assert snapshot() == before
    # another physical network's interface is free
    _flat(admin, MQ, physnet="physnet1")


def test_a_node_that_cannot_hold_the_schedule_reports_it(driver, settings):
    from services.network.drivers import base
    net = base.NetSpec(id="n1", bridge="brq1", network_type="flat", physical_network="public", segmentation_id=None,
                       mtu=1500, tsn=tsn.normalize(MQ, None))
    driver.mappings = {"public": "eth9"}
    driver.nic_queues = 1
    with pytest.raises(RuntimeError, match=r"tsn eth9: tsn:schedule.queues\[1\]"):
        driver.apply(base.Topology(networks=[net]))
    assert driver.inventory()["tsn_interfaces"] == []


# ---------------------------------------------------------------------------------------------- VLAN priority maps
@pytest.mark.parametrize("attribute, entries, words", [
    (pcp.EGRESS, [{"priority": 1, "pcp": 8}], "vlan:egress_qos_map[0].pcp: must be an integer 0-7, not 8"),
    (pcp.INGRESS, [{"priority": 1, "pcp": -1}], "vlan:ingress_qos_map[0].pcp: must be an integer 0-7"),
    (pcp.EGRESS, [{"priority": 1, "pcp": 1}, {"priority": 1, "pcp": 2}], "[1].priority: priority 1 is mapped twice"),
    (pcp.INGRESS, [{"priority": 1, "pcp": 3}, {"priority": 2, "pcp": 3}], "[1].pcp: pcp 3 is mapped twice"),
    (pcp.EGRESS, [{"priority": 1 << 32, "pcp": 1}], "[0].priority: must be an integer 0-4294967295"),
    (pcp.EGRESS, [{"priority": True, "pcp": 1}], "[0].priority"),
    (pcp.EGRESS, [{"prio": 1, "pcp": 1}], "vlan:egress_qos_map[0]: each entry"),
    (pcp.EGRESS, {"1": 1}, "vlan:egress_qos_map: must be a list"),
])
def test_priority_map_refusals_name_the_entry(attribute, entries, words):
    with pytest.raises(pcp.MapError) as exc:
        pcp.normalize(attribute, entries)
    assert str(exc.value).startswith(attribute) and words in str(exc.value), str(exc.value)


def test_priority_maps_are_sorted_and_zero_means_unmapped():
    assert pcp.normalize(pcp.EGRESS, [{"priority": 7, "pcp": 6}, {"priority": 2, "pcp": 0},
                                      {"priority": 0, "pcp": 1}]) == [{"priority": 0, "pcp": 1},
                                                                      {"priority": 7, "pcp": 6}]
    assert pcp.normalize(pcp.INGRESS, [{"priority": 3, "pcp": 6}, {"priority": 0, "pcp": 2},
                                       {"priority": 9, "pcp": 1}]) == [{"priority": 9, "pcp": 1},
                                                                       {"priority": 3, "pcp": 6}]
    assert pcp.normalize(pcp.EGRESS, None) == []


def test_vlan_maps_through_the_api(admin, alice, snapshot, driver):
    egress = [{"priority": 5, "pcp": 5}]
    net = admin.ok("POST", "/v2.0/networks", {"network": {
        "provider:network_type": "vlan", "provider:physical_network": "public", "provider:segmentation_id": 9,
        "vlan:egress_qos_map": egress}}, status=201)["network"]
    assert net["vlan:egress_qos_map"] == egress and net["vlan:ingress_qos_map"] == []
    assert driver.topology.networks[0].egress_qos == egress
    before = snapshot()
    for body, status, words in (
            ({"vlan:egress_qos_map": [{"priority": 5, "pcp": 9}]}, 400, "vlan:egress_qos_map[0].pcp"),
            ({"vlan:ingress_qos_map": "5:5"}, 400, "vlan:ingress_qos_map")):
        code, doc = admin.put(f"/v2.0/networks/{net['id']}", {"network": body})
        assert code == status and words in doc["NeutronError"]["message"], doc
    code, doc = admin.post("/v2.0/networks", {"network": {"name": "tenant", "vlan:ingress_qos_map": egress}})
    assert code == 400 and "only vlan networks" in doc["NeutronError"]["message"]
    code, _ = alice.post("/v2.0/networks", {"network": {"name": "mine", "vlan:egress_qos_map": egress}})
    assert code == 403
    assert snapshot() == before
    cleared = admin.ok("PUT", f"/v2.0/networks/{net['id']}", {"network": {"vlan:egress_qos_map": None}})["network"]
    assert cleared["vlan:egress_qos_map"] == [] and driver.topology.networks[0].egress_qos == []
