"""Device and namespace names, Neutron linuxbridge style (fit in IFNAMSIZ; uuids keep them unique).

`tag` is the node tag (`[network] node_tag`, empty by default): two nodes on one machine share its link namespace,
so the links every node builds for the same network (bridge, VXLAN/VLAN uplink) carry the node's tag."""
from __future__ import annotations

import copy
import re

from services.network.drivers import base

TAG_RE = r"[a-z0-9]{0,2}"


def _per_node(kind: str, tag: str, network_id: str) -> str:
    return kind + tag + network_id[:11 - len(tag)]


def bridge(network_id: str, tag: str = "") -> str:
    return _per_node("brq", tag, network_id)


def vxlan(network_id: str, tag: str = "") -> str:
    return _per_node("vx-", tag, network_id)


def vlan(network_id: str, tag: str = "") -> str:
    return _per_node("vl-", tag, network_id)


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


def check_tag(tag: str) -> str:
    if not re.fullmatch(TAG_RE, tag or ""):
        raise ValueError(f"network node_tag {tag!r}: at most 2 lowercase letters/digits")
    return tag or ""


def localize(topology: base.Topology, tag: str) -> base.Topology:
    """`topology` with this node's bridge names (ports are per node already: their taps are named by port id).

    Idempotent: a topology built with the tag already comes back unchanged."""
    if not tag:
        return topology
    out = copy.deepcopy(topology)
    renamed = {}
    for net in out.networks:
        renamed[net.bridge] = renamed[bridge(net.id)] = bridge(net.id, tag)
        net.bridge = bridge(net.id, tag)
    ifaces = [d.iface for d in out.dhcp] + [i for r in out.routers for i in r.interfaces] + \
        [r.gateway for r in out.routers if r.gateway]
    for item in ifaces + out.ports:
        item.bridge = renamed.get(item.bridge, item.bridge)
    return out
