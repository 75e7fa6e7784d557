"""nftables rulesets: security groups on bridged ports (root netns) and SNAT/DNAT inside router namespaces.

Bridged packets reach the inet forward hook through br_netfilter (with conntrack), but there `iifname`/`oifname`
are the bridge, not the port. So a bridge-family table (which sees the ports) marks each packet with the id of
its input port (low 16 bits) and output port (high 16 bits), and the inet table dispatches on the mark.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import subprocess

from services.network.drivers.base import PortSpec, RouterSpec, SgRule

NAT_TABLE = "egret_nat"
_ND_TYPES = "{ nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query, " \
            "mld-listener-report, mld2-listener-report }"


class NftError(RuntimeError):
    pass


def run(text: str, netns: str | None = None) -> None:
    cmd = (["ip", "netns", "exec", netns] if netns else []) + ["nft", "-f", "-"]
    proc = subprocess.run(cmd, input=text, capture_output=True, text=True)
    if proc.returncode != 0:
        raise NftError(f"nft failed in {netns or 'root'}: {proc.stderr.strip()}\n{text}")


def list_tables(netns: str | None = None) -> list[tuple[str, str]]:
    cmd = (["ip", "netns", "exec", netns] if netns else []) + ["nft", "-j", "list", "tables"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return []
    items = json.loads(proc.stdout or "{}").get("nftables", [])
    return [(i["table"]["family"], i["table"]["name"]) for i in items if "table" in i]


def delete_table(family: str, name: str, netns: str | None = None) -> None:
    run(f"table {family} {name}\ndelete table {family} {name}\n", netns)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _replace(family: str, name: str, body: str) -> str:
    # declare, delete, recreate: one atomic transaction whether or not the table existed
    return f"table {family} {name}\ndelete table {family} {name}\ntable {family} {name} {{\n{body}}}\n"


def _set(items) -> str:
    return "{ " + ", ".join(items) + " }"


def _addrs(items) -> list[str]:
    """Addresses/prefixes collapsed so an anonymous set never holds overlapping intervals (nft rejects those)."""
    nets = [ipaddress.ip_network(i, strict=False) for i in items]
    out = []
    for version in (4, 6):
        same = [n for n in nets if n.version == version]
        out += [str(n) if n.num_addresses > 1 else str(n.network_address)
                for n in ipaddress.collapse_addresses(same)]
    return out


def _rule_match(rule: SgRule) -> str | None:
    """nft match expression for one SG rule, or None when it can match nothing (empty remote group)."""
    v6 = rule.ethertype == "IPv6"
    parts = ["meta nfproto " + ("ipv6" if v6 else "ipv4")]
    proto = rule.protocol
    if proto in ("tcp", "udp", "sctp", "6", "17", "132"):
        name = {"6": "tcp", "17": "udp", "132": "sctp"}.get(proto, proto)
        parts.append(f"meta l4proto {name}")
        if rule.port_min is not None:
            rng = str(rule.port_min) if rule.port_min == rule.port_max else f"{rule.port_min}-{rule.port_max}"
            parts.append(f"th dport {rng}")
    elif proto in ("icmp", "1", "icmpv6", "58", "ipv6-icmp"):
        family = "icmpv6" if v6 else "icmp"
        parts.append("meta l4proto " + ("ipv6-icmp" if v6 else "icmp"))
        if rule.port_min is not None:
            parts.append(f"{family} type {rule.port_min}")
            if rule.port_max is not None:
                parts.append(f"{family} code {rule.port_max}")
    elif proto is not None:
        parts.append(f"meta l4proto {int(proto)}")
    if rule.remote_prefixes is not None:
        nets = _addrs(rule.remote_prefixes)
        if not nets:
            return None
        if not any(ipaddress.ip_network(n).prefixlen == 0 for n in nets):
            side = "saddr" if rule.direction == "ingress" else "daddr"
            parts.append(f"{'ip6' if v6 else 'ip'} {side} {_set(nets)}")
    return " ".join(parts)


def sg_ruleset(prefix: str, ports: list[PortSpec]) -> tuple[str, str]:
    """(bridge table text, inet table text) for every port with port security or a DSCP mark."""
    secured = sorted((p for p in ports if p.port_security), key=lambda p: p.id)
    mark_body = ["  chain portin {\n    type filter hook prerouting priority -300; policy accept;\n"]
    fwd_body = ["  chain portout {\n    type filter hook forward priority -200; policy accept;\n"]
    inet = []
    in_map, out_map = [], []
    # port ids start at a per-prefix offset above 0x1000, so marks of another instance on this host never
    # look like ours even to a rule that does not check the bridge
    offset = int(hashlib.sha256(prefix.encode()).hexdigest()[:4], 16)
    for port in sorted((p for p in ports if p.dscp_mark is not None), key=lambda p: p.id):
        for family in ("ip", "ip6"):
            mark_body.append(f'    iifname "{port.tap}" ether type {family} {family} dscp set {port.dscp_mark} '
                             f'meta priority set 0:{port.dscp_mark >> 3}\n')
    for i, port in enumerate(secured):
        n = 0x1000 + (offset + i) % 0xF000
        tap = port.tap
        macs = {port.mac.lower()} | {p["mac_address"].lower() for p in port.allowed_pairs if p.get("mac_address")}
        v4 = [ip for ip in port.ips if ":" not in ip] + [p["ip_address"] for p in port.allowed_pairs
                                                         if ":" not in p["ip_address"]]
        v6 = [ip for ip in port.ips if ":" in ip] + [p["ip_address"] for p in port.allowed_pairs
                                                     if ":" in p["ip_address"]]
        mark_body.append(f'    iifname "{tap}" meta mark set meta mark and 0xffff0000 or {n:#x}\n')
        # anti-spoofing: the VM may only send from its own MAC and addresses (plus allowed address pairs)
        mark_body.append(f'    iifname "{tap}" ether saddr != {_set(sorted(macs))} drop\n')
        mark_body.append(f'    iifname "{tap}" ether type arp arp saddr ip != {_set(_addrs(v4 or ["0.0.0.0"]))} '
                         f'drop\n')
        mark_body.append(f'    iifname "{tap}" ether type ip ip saddr != {_set(_addrs(v4 + ["0.0.0.0"]))} drop\n')
        mark_body.append(f'    iifname "{tap}" ether type ip6 ip6 saddr != {_set(_addrs(v6 + ["fe80::/10", "::"]))} '
                         f'drop\n')
        fwd_body.append(f'    oifname "{tap}" meta mark set meta mark and 0x0000ffff or {n << 16:#x}\n')
        in_map.append(f"{n << 16:#x} : jump in_{n}")
        out_map.append(f"{n:#x} : jump out_{n}")
        # a stateless port has no conntrack shortcut: every packet, replies too, must match a rule
        tracked = (["    ct state established,related return\n", "    ct state invalid counter drop\n"]
                   if port.stateful else [])
        egress = [*tracked, "    meta l4proto udp udp sport 68 udp dport 67 return\n",
                  "    meta l4proto udp udp sport 546 udp dport 547 return\n",
                  f"    meta l4proto ipv6-icmp icmpv6 type {_ND_TYPES} return\n"]
        ingress = [*(line.replace("return", "accept") for line in tracked),
                   "    meta l4proto udp udp sport 67 udp dport 68 accept\n",
                   "    meta l4proto udp udp sport 547 udp dport 546 accept\n",
                   f"    meta l4proto ipv6-icmp icmpv6 type {_ND_TYPES} accept\n"]
        for rule in port.rules:
            match = _rule_match(rule)
            if match is None:
                continue
            if rule.direction == "egress":
                egress.append(f"    {match} return\n")
            else:
                ingress.append(f"    {match} accept\n")
        egress.append("    counter drop\n")
        ingress.append("    counter drop\n")
        inet.append(f"  chain out_{n} {{\n" + "".join(egress) + "  }\n")
        inet.append(f"  chain in_{n} {{\n" + "".join(ingress) + "  }\n")
    base = "  chain forward {\n    type filter hook forward priority 0; policy accept;\n"
    if out_map:
        # marks are only unique within this table, and another Egret instance on the host has its own: match
        # packets bridged by our own bridges only (through br_netfilter, iif/oif are the bridge devices)
        bridges = _set(f'"{b}"' for b in sorted({p.bridge for p in secured}))
        base += f"    iifname {bridges} meta mark and 0x0000ffff vmap {_set(out_map)}\n"
        base += f"    oifname {bridges} meta mark and 0xffff0000 vmap {_set(in_map)}\n"
    base += "  }\n"
    table = f"{prefix}_sg"
    bridge_text = _replace("bridge", table, "".join(mark_body) + "  }\n" + "".join(fwd_body) + "  }\n")
    inet_text = _replace("inet", table, base + "".join(inet))
    return bridge_text, inet_text


def nat_ruleset(router: RouterSpec) -> str:
    gw = router.gateway
    body = ["  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n"]
    out = ["  chain output {\n    type nat hook output priority -100; policy accept;\n"]
    post = ["  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n"]
    if gw is not None:
        qg = gw.inner
        for fip, fixed in router.floating_ips:
            body.append(f"    ip daddr {fip} dnat to {fixed}\n")
            out.append(f"    ip daddr {fip} dnat to {fixed}\n")
            post.append(f'    ip saddr {fixed} oifname "{qg}" snat to {fip}\n')
        gw_v4 = next((a.split("/")[0] for a in gw.addresses if ":" not in a), None)
        if router.snat and gw_v4 and router.internal_cidrs:
            post.append(f'    oifname "{qg}" ip saddr {_set(sorted(router.internal_cidrs))} snat to {gw_v4}\n')
    text = "".join(body) + "  }\n" + "".join(out) + "  }\n" + "".join(post) + "  }\n"
    return _replace("ip", NAT_TABLE, text)


def vtep_table(prefix: str) -> str:
    return f"{prefix}_vtep"


def vtep_ruleset(prefix: str, port: int, remotes: set[tuple[str, int]], vnis: list[int]) -> str:
    """Only the site's nodes may send VXLAN to our networks: a frame from any other source would be decapsulated
    into a tenant network (and its MAC learned), so it is dropped before the UDP socket sees it. Matched on our
    VNIs (the 24 bits at UDP payload offset 4), since other clouds on this host may share the port."""
    rules = []
    for family, version in (("ip", 4), ("ip6", 6)):
        peers = sorted({a for a, _ in remotes if ipaddress.ip_address(a).version == version})
        match = f"{family} saddr != {_set(peers)} " if peers else ""
        rules.append(f"    meta nfproto ipv{version} udp dport {port} @th,96,24 {_set(str(v) for v in sorted(vnis))} "
                     f"{match}counter drop\n")
    body = "  chain input {\n    type filter hook input priority -10; policy accept;\n" + "".join(rules) + "  }\n"
    return _replace("inet", vtep_table(prefix), body)
