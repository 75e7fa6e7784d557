"""QoS bandwidth limits with tc: tbf on the tap (towards the VM) and, for traffic from the VM, an ifb.

This kernel has no ingress policing (no `police` action), so the VM's egress is redirected (u32 + mirred)
from the tap's ingress qdisc to an ifb device, where a tbf shapes it.
"""
from __future__ import annotations

import json
import subprocess

from services.network.drivers import names


def _tc(*args, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["tc", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"tc {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def _qdiscs(dev: str) -> list[dict]:
    proc = _tc("-j", "qdisc", "show", "dev", dev, check=False)
    try:
        return json.loads(proc.stdout or "[]")
    except ValueError:
        return []


def _tbf_args(kbps: int, burst_kbps: int | None) -> list[str]:
    rate_bytes = kbps * 1000 // 8
    # Neutron's default burst is 80% of the rate over one second; tbf needs at least one MTU per tick
    burst = max((burst_kbps or int(kbps * 0.8)) * 1000 // 8, 16 * 1024)
    return ["rate", f"{kbps}kbit", "burst", str(burst), "latency", "100ms"] if rate_bytes else []


def current(tap: str) -> tuple[str | None, str | None]:
    root = next((q for q in _qdiscs(tap) if q.get("root") and q.get("kind") == "tbf"), None)
    ifb = next((q for q in _qdiscs(names.ifb(tap[3:])) if q.get("root") and q.get("kind") == "tbf"), None)
    return (json.dumps(root.get("options"), sort_keys=True) if root else None,
            json.dumps(ifb.get("options"), sort_keys=True) if ifb else None)


def apply(ipr, port, alias: str, state: dict) -> bool:
    """Shape one existing tap; returns True when it carries a limit. `state` caches what was applied."""
    tap, ifb = port.tap, names.ifb(port.id)
    want = (port.ingress_kbps, port.ingress_burst_kbps, port.egress_kbps, port.egress_burst_kbps)
    tap_idx = ipr.link_lookup(ifname=tap)
    if not tap_idx:
        return False
    key = (tap_idx[0], want)
    if state.get(tap) == key:
        return bool(port.ingress_kbps or port.egress_kbps)
    # towards the VM: tbf as the tap's root qdisc
    if port.ingress_kbps:
        _tc("qdisc", "replace", "dev", tap, "root", "tbf", *_tbf_args(port.ingress_kbps, port.ingress_burst_kbps))
    elif any(q.get("root") and q.get("kind") == "tbf" for q in _qdiscs(tap)):
        _tc("qdisc", "del", "dev", tap, "root", check=False)
    # from the VM: ingress qdisc → mirred to an ifb → tbf
    if port.egress_kbps:
        if not ipr.link_lookup(ifname=ifb):
            ipr.link("add", ifname=ifb, kind="ifb")
        ipr.link("set", index=ipr.link_lookup(ifname=ifb)[0], ifalias=alias, state="up")
        _tc("qdisc", "replace", "dev", ifb, "root", "tbf", *_tbf_args(port.egress_kbps, port.egress_burst_kbps))
        _tc("qdisc", "del", "dev", tap, "ingress", check=False)
        _tc("qdisc", "add", "dev", tap, "handle", "ffff:", "ingress")
        _tc("filter", "add", "dev", tap, "parent", "ffff:", "protocol", "all", "u32", "match", "u32", "0", "0",
            "action", "mirred", "egress", "redirect", "dev", ifb)
    else:
        if any(q.get("kind") == "ingress" for q in _qdiscs(tap)):
            _tc("qdisc", "del", "dev", tap, "ingress", check=False)
        if ipr.link_lookup(ifname=ifb):
            ipr.link("del", index=ipr.link_lookup(ifname=ifb)[0])
    state[tap] = key
    return bool(port.ingress_kbps or port.egress_kbps)
