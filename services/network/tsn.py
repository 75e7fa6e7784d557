"""TSN schedules (`tsn:schedule`): IEEE 802.1Qbv taprio or mqprio traffic classes, etf and cbs per queue, checked.

A schedule is the whole egress configuration of one physical interface. `normalize` checks it against the
arithmetic the kernel enforces (and what it does not: a cycle shorter than its entries, a gate for a traffic class
that does not exist) and against the NIC's transmit queues, and returns the canonical form that the API stores,
the driver applies and the driver's read-back from the kernel is compared with.
"""
from __future__ import annotations

import jsonschema

FIELD = "tsn:schedule"
MAX_TC = 16                      # TC_QOPT_MAX_QUEUE
PRIO_MAP_LEN = 16                # TC_QOPT_BITMASK + 1: skb priorities 0-15
CLOCKS = {"CLOCK_REALTIME": 0, "CLOCK_MONOTONIC": 1, "CLOCK_BOOTTIME": 7, "CLOCK_TAI": 11}
COMMANDS = {"set-gates": 0, "set-and-hold": 1, "set-and-release": 2}
TAPRIO_MODES = {"software": 0, "txtime-assist": 1, "full-offload": 2}   # TCA_TAPRIO_ATTR_FLAGS
_U32 = 0xFFFFFFFF
_S32 = (-(1 << 31), (1 << 31) - 1)
_S64_MAX = (1 << 63) - 1

_uint = {"type": "integer", "minimum": 0}
_s32 = {"type": "integer", "minimum": _S32[0], "maximum": _S32[1]}
_bool = {"type": "boolean"}
SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["qdisc", "num_tc", "queues"],
    "properties": {
        "qdisc": {"enum": ["taprio", "mqprio"]},
        "num_tc": {"type": "integer", "minimum": 1, "maximum": MAX_TC},
        "priority_map": {"type": "array", "maxItems": PRIO_MAP_LEN, "items": {"type": "integer", "minimum": 0}},
        "queues": {"type": "array", "minItems": 1, "maxItems": MAX_TC, "items": {
            "type": "object", "additionalProperties": False, "required": ["count", "offset"],
            "properties": {"count": {"type": "integer", "minimum": 1, "maximum": 0xFFFF},
                           "offset": {"type": "integer", "minimum": 0, "maximum": 0xFFFF}}}},
        "mode": {"enum": sorted(TAPRIO_MODES)},
        "base_time": {"type": "integer", "minimum": 0, "maximum": _S64_MAX},
        "cycle_time": {"type": "integer", "minimum": 1, "maximum": _S64_MAX},
        "cycle_time_extension": {"type": "integer", "minimum": 0, "maximum": _S64_MAX},
        "clockid": {"enum": sorted(CLOCKS)},
        "txtime_delay": {"type": "integer", "minimum": 1, "maximum": _U32},
        "entries": {"type": "array", "minItems": 1, "maxItems": 1024, "items": {
            "type": "object", "additionalProperties": False, "required": ["gate_mask", "interval"],
            "properties": {"command": {"enum": sorted(COMMANDS)}, "gate_mask": {**_uint, "maximum": _U32},
                           "interval": {"type": "integer", "minimum": 1, "maximum": _U32}}}},
        "etf": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["queue", "delta"],
            "properties": {"queue": _uint, "delta": {**_s32, "minimum": 0}, "clockid": {"enum": ["CLOCK_TAI"]},
                           "deadline_mode": _bool, "offload": _bool, "skip_sock_check": _bool}}},
        "cbs": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["queue", "idleslope", "sendslope", "hicredit", "locredit"],
            "properties": {"queue": _uint, "idleslope": {**_s32, "minimum": 1}, "sendslope": {**_s32, "maximum": -1},
                           "hicredit": {**_s32, "minimum": 0}, "locredit": {**_s32, "maximum": 0},
                           "offload": _bool}}},
    },
}
_TAPRIO_ONLY = ("mode", "base_time", "cycle_time", "cycle_time_extension", "clockid", "txtime_delay", "entries")


class ScheduleError(ValueError):
    """A schedule the kernel would refuse or misapply; `field` is the path inside `tsn:schedule`."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{FIELD}.{field}: {message}" if field else f"{FIELD}: {message}")


def _path(error: jsonschema.ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def normalize(schedule: dict, tx_queues: int | None = None) -> dict:
    """The canonical schedule, or ScheduleError naming the field. `tx_queues`: the NIC's, when it is known."""
    try:
        jsonschema.validate(schedule, SCHEMA)
    except jsonschema.ValidationError as exc:
        raise ScheduleError(_path(exc), exc.message) from None
    num_tc = schedule["num_tc"]
    taprio = schedule["qdisc"] == "taprio"
    if not taprio:
        for key in _TAPRIO_ONLY:
            if key in schedule:
                raise ScheduleError(key, "is a taprio setting; an mqprio schedule has no gates")
    prio = list(schedule.get("priority_map", []))
    for i, tc in enumerate(prio):
        if tc >= num_tc:
            raise ScheduleError(f"priority_map[{i}]", f"traffic class {tc} does not exist (num_tc is {num_tc})")
    queues = [dict(q) for q in schedule["queues"]]
    if len(queues) != num_tc:
        raise ScheduleError("queues", f"has {len(queues)} ranges; num_tc is {num_tc}, one range per traffic class")
    owner: dict[int, int] = {}
    for tc, q in enumerate(queues):
        if tc and q["offset"] < queues[tc - 1]["offset"] + queues[tc - 1]["count"]:
            # the kernel's rule (mqprio and taprio alike): each class's range starts after the previous one's
            raise ScheduleError(f"queues[{tc}]", f"starts at queue {q['offset']}, inside or before traffic class "
                                                 f"{tc - 1}'s range; ranges go up with the traffic class")
        owner.update({n: tc for n in range(q["offset"], q["offset"] + q["count"])})
        if tx_queues is not None and q["offset"] + q["count"] > tx_queues:
            raise ScheduleError(f"queues[{tc}]", f"queues {q['offset']}-{q['offset'] + q['count'] - 1} exceed the "
                                                 f"NIC's {tx_queues} transmit queues")
    out = {"qdisc": schedule["qdisc"], "num_tc": num_tc, "priority_map": prio + [0] * (PRIO_MAP_LEN - len(prio)),
           "queues": queues}
    if taprio:
        out.update(_taprio(schedule, num_tc))
    used: dict[int, str] = {}
    for kind in ("etf", "cbs"):
        children = []
        for i, child in enumerate(schedule.get(kind, [])):
            queue = child["queue"]
            if queue not in owner:
                raise ScheduleError(f"{kind}[{i}].queue", f"queue {queue} is in no traffic class's range")
            if queue in used:
                raise ScheduleError(f"{kind}[{i}].queue", f"queue {queue} already has {used[queue]}")
            used[queue] = kind
            children.append(_etf(child) if kind == "etf" else _cbs(child))
        out[kind] = sorted(children, key=lambda c: c["queue"])
    return out


def _taprio(schedule: dict, num_tc: int) -> dict:
    mode = schedule.get("mode", "software")
    entries = []
    for i, entry in enumerate(schedule.get("entries") or []):
        if entry["gate_mask"] >> num_tc:
            raise ScheduleError(f"entries[{i}].gate_mask", f"{entry['gate_mask']:#x} opens gates beyond the "
                                                           f"{num_tc} traffic classes")
        entries.append({"command": entry.get("command", "set-gates"), "gate_mask": entry["gate_mask"],
                        "interval": entry["interval"]})
    if not entries:
        raise ScheduleError("entries", "a taprio schedule needs at least one gate entry")
    total = sum(e["interval"] for e in entries)
    cycle = schedule.get("cycle_time", total)
    if cycle < total:
        raise ScheduleError("cycle_time", f"{cycle} ns is shorter than the sum of the entries' intervals ({total} ns)")
    out = {"mode": mode, "base_time": schedule.get("base_time", 0), "cycle_time": cycle,
           "cycle_time_extension": schedule.get("cycle_time_extension", 0), "entries": entries}
    if mode == "full-offload":
        if "clockid" in schedule or "txtime_delay" in schedule:
            raise ScheduleError("clockid" if "clockid" in schedule else "txtime_delay",
                                "is not used in full-offload mode (the NIC keeps the time)")
        return out
    out["clockid"] = schedule.get("clockid", "CLOCK_TAI")
    if mode == "txtime-assist":
        if "txtime_delay" not in schedule:
            raise ScheduleError("txtime_delay", "is required in txtime-assist mode")
        out["txtime_delay"] = schedule["txtime_delay"]
    elif "txtime_delay" in schedule:
        raise ScheduleError("txtime_delay", "is only used in txtime-assist mode")
    return out


def _etf(child: dict) -> dict:
    return {"queue": child["queue"], "delta": child["delta"], "clockid": "CLOCK_TAI",
            "deadline_mode": child.get("deadline_mode", False), "offload": child.get("offload", False),
            "skip_sock_check": child.get("skip_sock_check", False)}


def _cbs(child: dict) -> dict:
    return {k: child[k] for k in ("queue", "idleslope", "sendslope", "hicredit", "locredit")} | {
        "offload": child.get("offload", False)}
