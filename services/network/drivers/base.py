"""The data-plane contract: the manager hands over the whole desired Topology; the driver makes it so."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, field

VXLAN_PORT = 4789           # IANA; a node that shares a machine with another node needs its own


@dataclass
class NetSpec:
    id: str
    bridge: str
    network_type: str           # vxlan | flat | vlan
    physical_network: str | None
    segmentation_id: int | None
    mtu: int
    external: bool = False


@dataclass
class Iface:
    """A veth whose root end (`tap`) sits on a network's bridge and whose other end lives in a netns."""
    port_id: str
    tap: str
    inner: str
    mac: str
    bridge: str
    addresses: list[str]        # "ip/prefixlen"


@dataclass
class SubnetSpec:
    id: str
    cidr: str
    ip_version: int
    gateway_ip: str | None
    dns_nameservers: list[str]
    host_routes: list[dict]
    mtu: int


@dataclass
class DhcpHost:
    mac: str
    ip: str
    hostname: str
    device_id: str = ""
    project_id: str = ""


@dataclass
class DhcpSpec:
    network_id: str
    netns: str
    iface: Iface
    subnets: list[SubnetSpec]
    hosts: list[DhcpHost]
    domain: str = "openstacklocal"
    metadata: bool = True


@dataclass
class RouterSpec:
    id: str
    netns: str
    interfaces: list[Iface]
    gateway: Iface | None = None
    gateway_nexthop: str | None = None
    snat: bool = True
    internal_cidrs: list[str] = field(default_factory=list)
    floating_ips: list[tuple[str, str]] = field(default_factory=list)   # (floating, fixed)
    routes: list[dict] = field(default_factory=list)


@dataclass
class SgRule:
    direction: str              # ingress | egress
    ethertype: str              # IPv4 | IPv6
    protocol: str | None        # tcp, udp, icmp, icmpv6, a number, or None for any
    port_min: int | None
    port_max: int | None
    remote_prefixes: list[str] | None   # None: anywhere; [] (an empty remote group): nowhere


@dataclass
class PortSpec:
    """A VM-facing port: its tap gets the security-group filter and the QoS limits."""
    id: str
    tap: str
    bridge: str
    mac: str
    ips: list[str]
    allowed_pairs: list[dict] = field(default_factory=list)
    port_security: bool = True
    rules: list[SgRule] = field(default_factory=list)
    stateful: bool = True               # False: no connection tracking, replies need their own rules
    egress_kbps: int | None = None      # from the VM (Neutron "egress")
    egress_burst_kbps: int | None = None
    ingress_kbps: int | None = None     # towards the VM
    ingress_burst_kbps: int | None = None


@dataclass
class Topology:
    networks: list[NetSpec] = field(default_factory=list)
    dhcp: list[DhcpSpec] = field(default_factory=list)
    routers: list[RouterSpec] = field(default_factory=list)
    ports: list[PortSpec] = field(default_factory=list)
    # the other nodes' VTEPs ("ip", or "ip:port" / "[ip6]:port" for a node listening on another port): every
    # VXLAN network floods BUM traffic to each of them (head-end replication); the site's member list feeds it
    vxlan_peers: list[str] = field(default_factory=list)


def vxlan_remotes(peers: list[str], local_ip: str | None, port: int) -> set[tuple[str, int]]:
    """The (address, udp port) pairs to flood to: `peers` parsed, without this node's own VTEP.

    Raises ValueError naming the entry that is not an address (the list crosses from settings or the site)."""
    out = set()
    for peer in peers:
        text = str(peer).strip()
        host, peer_port = text, port
        m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d+)|([0-9.]+):(\d+)", text)
        if m:
            host = m.group(1) or m.group(3)
            peer_port = int(m.group(2) or m.group(4))
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"vxlan_peers: {peer!r} is not an IP address (or ip:port)") from None
        if not 0 < peer_port < 65536 or addr.is_multicast or addr.is_unspecified:
            raise ValueError(f"vxlan_peers: {peer!r} is not a unicast VTEP address with a valid port")
        if local_ip and addr == ipaddress.ip_address(local_ip) and peer_port == port:
            continue                # the member list includes this node
        out.add((str(addr), peer_port))
    return out


def peer_text(addr: str, peer_port: int, port: int) -> str:
    """The canonical spelling of one remote: its address, plus the port when it is not this node's."""
    if peer_port == port:
        return addr
    return f"[{addr}]:{peer_port}" if ":" in addr else f"{addr}:{peer_port}"


class Driver:
    """Contract shared by the fake and the Linux driver (tests/contract/network runs against both)."""

    prefix: str

    def apply(self, topology: Topology, verify: bool = True) -> None:
        """Make the data plane equal `topology`: create what is missing, remove what is not listed.

        verify=False may trust state this driver applied earlier (fast path after an API call)."""
        raise NotImplementedError

    def port_states(self, taps: list[str]) -> dict[str, bool]:
        """For each tap name: True when the device exists, is up and sits on a bridge."""
        raise NotImplementedError

    def inventory(self) -> dict[str, list]:
        """What exists now, by kind: bridges, netns, dhcp (network ids), nft_tables, filtered_taps, qos_taps."""
        raise NotImplementedError

    def vxlan_peers(self) -> dict[str, list[str]]:
        """For each VXLAN network id: the remotes its flood list holds now, sorted, spelled as `peer_text`."""
        raise NotImplementedError

    def teardown(self) -> None:
        """Remove everything this driver (its prefix) ever created."""
        raise NotImplementedError


def topology_to_dict(topology: Topology) -> dict:
    """Plain JSON-able data: what a node's agent receives over the wire (and the apply CLI on stdin)."""
    return asdict(topology)


def topology_from_dict(data: dict) -> Topology:
    """The inverse of topology_to_dict; a field of the wrong shape raises ValueError naming its kind."""
    def iface(d):
        return Iface(**d) if d is not None else None

    try:
        return Topology(
            networks=[NetSpec(**n) for n in data.get("networks", [])],
            dhcp=[DhcpSpec(**{**d, "iface": iface(d["iface"]), "subnets": [SubnetSpec(**s) for s in d["subnets"]],
                               "hosts": [DhcpHost(**h) for h in d["hosts"]]}) for d in data.get("dhcp", [])],
            routers=[RouterSpec(**{**r, "interfaces": [iface(i) for i in r["interfaces"]],
                                   "gateway": iface(r.get("gateway")),
                                   "floating_ips": [tuple(f) for f in r.get("floating_ips", [])]})
                     for r in data.get("routers", [])],
            ports=[PortSpec(**{**p, "rules": [SgRule(**r) for r in p.get("rules", [])]})
                   for p in data.get("ports", [])],
            vxlan_peers=[str(p) for p in data.get("vxlan_peers", [])])
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"topology: {exc}") from None
