"""Netlink encodings of the TSN qdiscs (taprio, mqprio, etf, cbs) as pyroute2 tc plugins; pyroute2 has none.

Layouts follow the kernel's uapi <linux/pkt_sched.h>. `request` turns a canonical schedule (services.network.tsn)
into keyword arguments for `IPRoute.tc`, and `decode` turns a dumped qdisc back into the same canonical form, so
what the kernel holds can be compared with what was asked for.
"""
from __future__ import annotations

from types import SimpleNamespace

from pyroute2.netlink import nla
from pyroute2.netlink.rtnl import TC_H_ROOT
from pyroute2.netlink.rtnl.tcmsg import plugins

from services.network import tsn

ROOT_HANDLE = 0x100 << 16         # "100:" (tc handles are hex), the handle iproute2's examples give a TSN root
_MQPRIO_QOPT = (("num_tc", "B"), ("prio_tc_map", "16B"), ("hw", "B"), ("count", "16H"), ("offset", "16H"))


class _taprio(nla):
    nla_map = (("TCA_TAPRIO_ATTR_UNSPEC", "none"),
               ("TCA_TAPRIO_ATTR_PRIOMAP", "qopt"),
               ("TCA_TAPRIO_ATTR_SCHED_ENTRY_LIST", "entry_list"),
               ("TCA_TAPRIO_ATTR_SCHED_BASE_TIME", "int64"),
               ("TCA_TAPRIO_ATTR_SCHED_SINGLE_ENTRY", "hex"),
               ("TCA_TAPRIO_ATTR_SCHED_CLOCKID", "int32"),
               ("TCA_TAPRIO_PAD", "hex"),
               ("TCA_TAPRIO_ATTR_ADMIN_SCHED", "admin"),
               ("TCA_TAPRIO_ATTR_SCHED_CYCLE_TIME", "int64"),
               ("TCA_TAPRIO_ATTR_SCHED_CYCLE_TIME_EXTENSION", "int64"),
               ("TCA_TAPRIO_ATTR_FLAGS", "uint32"),
               ("TCA_TAPRIO_ATTR_TXTIME_DELAY", "uint32"),
               ("TCA_TAPRIO_ATTR_TC_ENTRY", "hex"))

    class qopt(nla):
        fields = _MQPRIO_QOPT

    class entry_list(nla):
        nla_map = (("TCA_TAPRIO_SCHED_UNSPEC", "none"), ("TCA_TAPRIO_SCHED_ENTRY", "entry"))

        class entry(nla):
            nla_map = (("TCA_TAPRIO_SCHED_ENTRY_UNSPEC", "none"),
                       ("TCA_TAPRIO_SCHED_ENTRY_INDEX", "uint32"),
                       ("TCA_TAPRIO_SCHED_ENTRY_CMD", "uint8"),
                       ("TCA_TAPRIO_SCHED_ENTRY_GATE_MASK", "uint32"),
                       ("TCA_TAPRIO_SCHED_ENTRY_INTERVAL", "uint32"))


# the admin (pending) schedule is dumped nested, with the same attribute numbers as the top level
_taprio.admin = _taprio


class _mqprio(nla):
    fields = _MQPRIO_QOPT


class _etf(nla):
    nla_map = (("TCA_ETF_UNSPEC", "none"), ("TCA_ETF_PARMS", "parms"))

    class parms(nla):
        fields = (("delta", "i"), ("clockid", "i"), ("flags", "I"))


class _cbs(nla):
    nla_map = (("TCA_CBS_UNSPEC", "none"), ("TCA_CBS_PARMS", "parms"))

    class parms(nla):
        fields = (("offload", "B"), ("pad0", "B"), ("pad1", "H"), ("hicredit", "i"), ("locredit", "i"),
                  ("idleslope", "i"), ("sendslope", "i"))


def _plugin(options, get_parameters):
    def fix_request(request):
        request.pop("tsn", None)
    return SimpleNamespace(options=options, get_parameters=get_parameters, fix_request=fix_request, parent=TC_H_ROOT)


def _qopt(s: dict, hw: int) -> dict:
    pad = [0] * (tsn.MAX_TC - s["num_tc"])
    return {"num_tc": s["num_tc"], "prio_tc_map": list(s["priority_map"]), "hw": hw,
            "count": [q["count"] for q in s["queues"]] + pad, "offset": [q["offset"] for q in s["queues"]] + pad}


def _taprio_parameters(kwarg: dict) -> dict:
    s = kwarg["tsn"]
    entries = [["TCA_TAPRIO_SCHED_ENTRY", {"attrs": [
        ["TCA_TAPRIO_SCHED_ENTRY_CMD", tsn.COMMANDS[e["command"]]],
        ["TCA_TAPRIO_SCHED_ENTRY_GATE_MASK", e["gate_mask"]],
        ["TCA_TAPRIO_SCHED_ENTRY_INTERVAL", e["interval"]]]}] for e in s["entries"]]
    attrs = [["TCA_TAPRIO_ATTR_PRIOMAP", _qopt(s, 0)],
             ["TCA_TAPRIO_ATTR_SCHED_BASE_TIME", s["base_time"]],
             ["TCA_TAPRIO_ATTR_SCHED_ENTRY_LIST", {"attrs": entries}],
             ["TCA_TAPRIO_ATTR_SCHED_CYCLE_TIME", s["cycle_time"]]]
    if s["cycle_time_extension"]:
        attrs.append(["TCA_TAPRIO_ATTR_SCHED_CYCLE_TIME_EXTENSION", s["cycle_time_extension"]])
    if s["mode"] != "full-offload":
        attrs.append(["TCA_TAPRIO_ATTR_SCHED_CLOCKID", tsn.CLOCKS[s["clockid"]]])
    if s["mode"] != "software":
        attrs.append(["TCA_TAPRIO_ATTR_FLAGS", tsn.TAPRIO_MODES[s["mode"]]])
    if "txtime_delay" in s:
        attrs.append(["TCA_TAPRIO_ATTR_TXTIME_DELAY", s["txtime_delay"]])
    return {"attrs": attrs}


def _etf_parameters(kwarg: dict) -> dict:
    c = kwarg["tsn"]
    flags = (1 if c["deadline_mode"] else 0) | (2 if c["offload"] else 0) | (4 if c["skip_sock_check"] else 0)
    return {"attrs": [["TCA_ETF_PARMS", {"delta": c["delta"], "clockid": tsn.CLOCKS[c["clockid"]], "flags": flags}]]}


def _cbs_parameters(kwarg: dict) -> dict:
    c = kwarg["tsn"]
    return {"attrs": [["TCA_CBS_PARMS", {"offload": int(c["offload"]), "pad0": 0, "pad1": 0,
                                         **{k: c[k] for k in ("hicredit", "locredit", "idleslope", "sendslope")}}]]}


plugins.update({
    "taprio": _plugin(_taprio, _taprio_parameters),
    "mqprio": _plugin(_mqprio, lambda kwarg: _qopt(kwarg["tsn"], 0)),
    "etf": _plugin(_etf, _etf_parameters),
    "cbs": _plugin(_cbs, _cbs_parameters),
})


def _by_value(table: dict, value: int, what: str) -> str:
    for name, number in table.items():
        if number == value:
            return name
    raise ValueError(f"unknown {what} {value}")


def _decode_qopt(q) -> dict:
    num_tc = q["num_tc"]
    return {"num_tc": num_tc, "priority_map": list(q["prio_tc_map"]),
            "queues": [{"count": q["count"][i], "offset": q["offset"][i]} for i in range(num_tc)]}


def _decode_taprio(opts) -> dict:
    # a schedule waiting for its base time is the admin one; the running (oper) one is at the top level
    sched = opts.get_attr("TCA_TAPRIO_ATTR_ADMIN_SCHED") or opts
    flags = opts.get_attr("TCA_TAPRIO_ATTR_FLAGS") or 0
    out = {"qdisc": "taprio", **_decode_qopt(opts.get_attr("TCA_TAPRIO_ATTR_PRIOMAP")),
           "mode": _by_value(tsn.TAPRIO_MODES, flags, "taprio flags"),
           "base_time": sched.get_attr("TCA_TAPRIO_ATTR_SCHED_BASE_TIME") or 0,
           "cycle_time": sched.get_attr("TCA_TAPRIO_ATTR_SCHED_CYCLE_TIME") or 0,
           "cycle_time_extension": sched.get_attr("TCA_TAPRIO_ATTR_SCHED_CYCLE_TIME_EXTENSION") or 0,
           "entries": []}
    entry_list = sched.get_attr("TCA_TAPRIO_ATTR_SCHED_ENTRY_LIST")
    for e in entry_list.get_attrs("TCA_TAPRIO_SCHED_ENTRY") if entry_list else []:
        out["entries"].append({"command": _by_value(tsn.COMMANDS, e.get_attr("TCA_TAPRIO_SCHED_ENTRY_CMD"), "command"),
                               "gate_mask": e.get_attr("TCA_TAPRIO_SCHED_ENTRY_GATE_MASK"),
                               "interval": e.get_attr("TCA_TAPRIO_SCHED_ENTRY_INTERVAL")})
    if out["mode"] != "full-offload":
        out["clockid"] = _by_value(tsn.CLOCKS, opts.get_attr("TCA_TAPRIO_ATTR_SCHED_CLOCKID"), "clock")
    if opts.get_attr("TCA_TAPRIO_ATTR_TXTIME_DELAY"):
        out["txtime_delay"] = opts.get_attr("TCA_TAPRIO_ATTR_TXTIME_DELAY")
    return out


def decode_root(msg) -> dict | None:
    """A dumped root qdisc as a canonical schedule without its children; None when it is not a TSN qdisc."""
    kind = msg.get_attr("TCA_KIND")
    opts = msg.get_attr("TCA_OPTIONS")
    if kind == "taprio":
        return _decode_taprio(opts)
    if kind == "mqprio":
        return {"qdisc": "mqprio", **_decode_qopt(opts)}
    return None


def decode_child(msg) -> tuple[str, dict] | None:
    """A dumped etf or cbs qdisc as ("etf" | "cbs", its canonical entry without the queue); None for others."""
    kind = msg.get_attr("TCA_KIND")
    if kind not in ("etf", "cbs"):
        return None
    p = msg.get_attr("TCA_OPTIONS").get_attr("TCA_ETF_PARMS" if kind == "etf" else "TCA_CBS_PARMS")
    if kind == "etf":
        return kind, {"delta": p["delta"], "clockid": _by_value(tsn.CLOCKS, p["clockid"], "clock"),
                      "deadline_mode": bool(p["flags"] & 1), "offload": bool(p["flags"] & 2),
                      "skip_sock_check": bool(p["flags"] & 4)}
    return kind, {k: p[k] for k in ("idleslope", "sendslope", "hicredit", "locredit")} | {"offload": bool(p["offload"])}
