"""Device and namespace names, Neutron linuxbridge style (fit in IFNAMSIZ; uuids keep them unique)."""
from __future__ import annotations


def bridge(network_id: str) -> str:
    return "brq" + network_id[:11]


def vxlan(network_id: str) -> str:
    return "vx-" + network_id[:11]


def tap(port_id: str) -> str:
    return "tap" + port_id[:11]


def ifb(port_id: str) -> str:
    return "ifb" + port_id[:11]


def dhcp_inner(port_id: str) -> str:
    return "ns-" + port_id[:11]


def router_inner(port_id: str) -> str:
    return "qr-" + port_id[:11]


def gateway_inner(port_id: str) -> str:
    return "qg-" + port_id[:11]


def dhcp_netns(prefix: str, network_id: str) -> str:
    return f"{prefix}-qdhcp-{network_id}"


def router_netns(prefix: str, router_id: str) -> str:
    return f"{prefix}-qrouter-{router_id}"


def ext_netns(prefix: str) -> str:
    return f"{prefix}-ext"


def sg_table(prefix: str) -> str:
    return f"{prefix}_sg"
