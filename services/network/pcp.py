"""VLAN priority maps (`vlan:egress_qos_map`, `vlan:ingress_qos_map`): socket priority <-> 802.1p PCP, checked."""
from __future__ import annotations

EGRESS, INGRESS = "vlan:egress_qos_map", "vlan:ingress_qos_map"
_U32 = 0xFFFFFFFF


class MapError(ValueError):
    """A map entry the kernel would refuse or misread; the message starts with the attribute and the entry."""


def _int(value, where: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise MapError(f"{where}: must be an integer 0-{high}, not {value!r}")
    return value


def normalize(attribute: str, entries) -> list[dict]:
    """The canonical map: a list of {"priority", "pcp"} sorted by its key (priority out, PCP in).

    Egress maps a socket priority (skb->priority, any u32) to the PCP written into the tag; ingress maps a
    received tag's PCP to the socket priority the packet gets. Zero means "no mapping" to the kernel, so a PCP of 0
    on egress, or a priority of 0 on ingress, is left out."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise MapError(f'{attribute}: must be a list of {{"priority": n, "pcp": 0-7}}')
    key, value = ("priority", "pcp") if attribute == EGRESS else ("pcp", "priority")
    seen, out = set(), []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != {"priority", "pcp"}:
            raise MapError(f'{attribute}[{i}]: each entry is {{"priority": n, "pcp": 0-7}}')
        _int(entry["pcp"], f"{attribute}[{i}].pcp", 7)
        _int(entry["priority"], f"{attribute}[{i}].priority", _U32)
        if entry[key] in seen:
            raise MapError(f"{attribute}[{i}].{key}: {key} {entry[key]} is mapped twice")
        seen.add(entry[key])
        if entry[value]:
            out.append({"priority": entry["priority"], "pcp": entry["pcp"]})
    return sorted(out, key=lambda e: e[key])
