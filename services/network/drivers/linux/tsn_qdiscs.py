"""A physical interface's TSN schedule: applied with pyroute2, read back from the kernel, removed when unset."""
from __future__ import annotations

import errno

from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import TC_H_ROOT

from services.network import tsn
from services.network.drivers.linux import tsn_netlink


def tx_queues(ipr, ifname: str) -> int | None:
    """The interface's transmit queues; None when this node has no such interface."""
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        return None
    return ipr.get_links(found[0])[0].get_attr("IFLA_NUM_TX_QUEUES") or 1


def supported(ipr, ifname: str) -> bool:
    """Whether the kernel has taprio, mqprio, etf and cbs: schedules of each applied to `ifname`, a scratch link
    with two transmit queues (an unknown qdisc kind is ENOENT; anything else is a real failure and raised)."""
    two = {"num_tc": 2, "queues": [{"count": 1, "offset": 0}, {"count": 1, "offset": 1}]}
    probes = [{"qdisc": "mqprio", **two},
              {"qdisc": "taprio", **two, "entries": [{"gate_mask": 3, "interval": 1000000}],
               "etf": [{"queue": 0, "delta": 200000}],
               "cbs": [{"queue": 1, "idleslope": 1000, "sendslope": -9000, "hicredit": 10, "locredit": -90}]}]
    try:
        for probe in probes:
            apply(ipr, ifname, tsn.normalize(probe, 2))
    except NetlinkError as exc:
        if exc.code == errno.ENOENT:
            return False
        raise
    return True


def read(ipr, ifname: str) -> dict | None:
    """The TSN schedule the kernel holds on `ifname` in canonical form; None when its root is not taprio/mqprio."""
    idx = ipr.link_lookup(ifname=ifname)
    return _held(ipr, idx[0])[1] if idx else None


def _held(ipr, index: int) -> tuple[object, dict | None]:
    """The root qdisc message and the schedule it holds (None when it is not a TSN root), from one dump."""
    qdiscs = ipr.get_qdiscs(index)
    root = next((q for q in qdiscs if q["parent"] == TC_H_ROOT), None)
    schedule = tsn_netlink.decode_root(root) if root is not None else None
    if schedule is None:
        return root, None
    schedule.update(etf=[], cbs=[])
    major = root["handle"] & 0xFFFF0000
    for q in qdiscs:
        child = tsn_netlink.decode_child(q) if q["parent"] & 0xFFFF0000 == major else None
        if child:
            kind, entry = child
            schedule[kind].append({"queue": (q["parent"] & 0xFFFF) - 1, **entry})
    for kind in ("etf", "cbs"):
        schedule[kind].sort(key=lambda c: c["queue"])
    return root, schedule


def apply(ipr, ifname: str, schedule: dict | None) -> bool:
    """Make the kernel hold `schedule` (canonical) on `ifname`, or none; True when something changed.

    A TSN root cannot change its traffic classes in place, so a different schedule replaces the whole tree (the
    interface falls back to its default qdisc for that moment); one that does not fit the NIC is refused first
    (ScheduleError) and the running one stays. The result is read back: a kernel that accepted
    the messages but holds something else is an error, not a success."""
    idx = ipr.link_lookup(ifname=ifname)
    if not idx:
        if schedule is None:
            return False
        raise RuntimeError(f"interface {ifname} is missing")
    root, current = _held(ipr, idx[0])
    if current == schedule:
        return False
    if schedule is not None:
        # before anything is removed: a schedule this NIC cannot hold leaves the running one in place
        tsn.normalize(schedule, tx_queues(ipr, ifname))     # raises ScheduleError naming the field
    if current is not None:
        # by its own handle: pyroute2 would otherwise ask for "1:", and the kernel refuses a handle that differs
        ipr.tc("del", index=idx[0], root=True, handle=root["handle"])
    if schedule is None:
        return True
    ipr.tc("add", kind=schedule["qdisc"], index=idx[0], handle=tsn_netlink.ROOT_HANDLE, root=True, tsn=schedule)
    for kind in ("etf", "cbs"):
        for child in schedule.get(kind, []):
            ipr.tc("add", kind=kind, index=idx[0], parent=tsn_netlink.ROOT_HANDLE | (child["queue"] + 1), tsn=child)
    held = read(ipr, ifname)
    if held != schedule:
        raise RuntimeError(f"{ifname}: the kernel holds {held} after applying {schedule}")
    return True
