"""The network service's settings section, with defaults derived so that two state dirs never share names."""
from __future__ import annotations

import hashlib
import ipaddress

from services.network.drivers import base, names

# `make up` on a build machine: the external network's far side is a bridge in a namespace of ours
DEFAULT_UPSTREAM = {"physical_network": "public", "cidr": "203.0.113.1/24"}
# outer Ethernet (14) + IP (20 or 40) + UDP (8) + VXLAN (8) headers that a tenant frame carries between nodes
VXLAN_OVERHEAD = {4: 50, 6: 70}


def section(settings) -> dict:
    conf = settings.section("network")
    if not conf.get("prefix"):
        # one prefix per state dir: concurrent clouds on one machine (tests, peers) never touch each other's links
        conf["prefix"] = "e" + hashlib.sha256(str(settings.state_dir).encode()).hexdigest()[:5]
    # the node tag keeps two nodes of one site on one machine apart: their namespaces, link aliases and
    # nftables tables through the prefix, their per-network links through names.bridge/vxlan(..., tag)
    conf["node_tag"] = names.check_tag(str(conf.get("node_tag") or ""))
    conf["prefix"] = conf["prefix"] + conf["node_tag"]
    upstream = conf.get("external_upstream", DEFAULT_UPSTREAM) or {}
    if upstream.get("physical_network"):
        upstream = {"interface": f"{conf['prefix']}ext0", **upstream}
    conf["external_upstream"] = upstream
    mappings = dict(conf.get("physical_interface_mappings", {}))
    if upstream.get("physical_network"):
        mappings.setdefault(upstream["physical_network"], upstream["interface"])
    conf["physical_interface_mappings"] = mappings
    _vxlan(conf)
    return conf


def _vxlan(conf: dict) -> None:
    """Check the VTEP settings once, at start, naming the field; derive the tenant MTU from the underlay's."""
    local = conf.get("vxlan_local_ip") or None
    try:
        version = ipaddress.ip_address(local).version if local else 4
    except ValueError:
        raise ValueError(f"network vxlan_local_ip {local!r} is not an IP address") from None
    if local:
        conf["vxlan_local_ip"] = local = str(ipaddress.ip_address(local))     # as the kernel spells it back
    try:
        port = int(conf.get("vxlan_port", base.VXLAN_PORT))
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise ValueError(f"network vxlan_port {conf.get('vxlan_port')!r}: a UDP port 1-65535")
    conf["vxlan_port"] = port
    peers = conf.get("vxlan_peers") or []
    if not isinstance(peers, list):
        raise ValueError("network vxlan_peers: a list of VTEP addresses (\"ip\" or \"ip:port\")")
    try:
        base.vxlan_remotes(peers, local, port)
    except ValueError as exc:
        raise ValueError(f"network {exc}") from None
    conf["vxlan_peers"] = [str(p) for p in peers]
    underlay = conf.get("underlay_mtu")
    if underlay is None:
        conf.setdefault("vxlan_mtu", 1500 - VXLAN_OVERHEAD[version])
        return
    if not isinstance(underlay, int) or not 1280 <= underlay <= 65535:
        raise ValueError(f"network underlay_mtu {underlay!r}: an MTU 1280-65535")
    top = underlay - VXLAN_OVERHEAD[version]
    conf.setdefault("vxlan_mtu", top)
    if not 68 <= int(conf["vxlan_mtu"]) <= top:
        raise ValueError(f"network vxlan_mtu {conf['vxlan_mtu']!r}: at most underlay_mtu {underlay} minus the "
                         f"VXLAN overhead ({VXLAN_OVERHEAD[version]}), i.e. {top}")
