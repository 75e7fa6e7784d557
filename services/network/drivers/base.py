"""The data-plane contract: the manager hands over the whole desired Topology; the driver makes it so."""
from __future__ import annotations

import dataclasses
import ipaddress
import re
import types
import typing
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
    tsn: dict | None = None     # flat/vlan: the canonical TSN schedule of the physical network's interface
    egress_qos: list[dict] = field(default_factory=list)    # vlan: socket priority -> PCP ({"priority", "pcp"})
    ingress_qos: list[dict] = field(default_factory=list)   # vlan: PCP -> socket priority


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
    """A VM-facing port: its tap gets the security-group filter, the QoS limits and the DSCP mark."""
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
    # from the VM: its IP packets' DSCP is set to this, and their priority to its class (DSCP >> 3), which a VLAN
    # network's egress map turns into the 802.1p PCP
    dscp_mark: int | None = None


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


class DriverError(RuntimeError):
    """A node's data plane could not be reached, or refused a call (the remote driver raises it)."""


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
        """What exists now, by kind: bridges, netns, dhcp (network ids), nft_tables, filtered_taps, qos_taps,
        floating_ips, tsn_interfaces (physical interfaces holding a TSN schedule)."""
        raise NotImplementedError

    def vxlan_peers(self) -> dict[str, list[str]]:
        """For each VXLAN network id: the remotes its flood list holds now, sorted, spelled as `peer_text`."""
        raise NotImplementedError

    def tx_queues(self, physical_network: str) -> int | None:
        """The transmit queues of the physical network's interface on this node; None when it has none."""
        raise NotImplementedError

    def teardown(self) -> None:
        """Remove everything this driver (its prefix) ever created."""
        raise NotImplementedError


def topology_to_dict(topology: Topology) -> dict:
    """Plain JSON-able data: what a node's agent receives over the wire (and the apply CLI on stdin)."""
    return asdict(topology)


def topology_from_dict(data: dict) -> Topology:
    """The inverse of topology_to_dict, checked field by field against the dataclasses: a document that crossed
    from another box (a node agent's request) is refused with ValueError naming the first bad field
    ("topology: ports[0].rules[1].port_min: an integer or null"), never half-applied."""
    try:
        return _decode(Topology, data, "")
    except ValueError as exc:
        raise ValueError(f"topology: {exc}") from None


def decode(tp, value, path: str):
    """`value` (parsed JSON) as `tp`, a type the contract's signatures and dataclasses use; ValueError names the
    field ("topology.ports[0].mac: a string ...")."""
    return _decode(tp, value, path)


MAX_TEXT = 4096          # no name, address or CIDR of a topology comes near this
MAX_ITEMS = 100_000      # nor does any list (ports, hosts, rules)


def _refuse(path: str, why: str) -> ValueError:
    return ValueError(f"{path.lstrip('.') or 'the document'}: {why}")


def _decode(tp, value, path: str):
    """`value` (parsed JSON) as type `tp` of the dataclasses above."""
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _refuse(path, f"an object ({tp.__name__})")
        hints = typing.get_type_hints(tp)
        known = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise _refuse(f"{path}.{str(unknown[0])[:60]}", f"not a field of {tp.__name__}")
        out = {}
        for name, f in known.items():
            if name not in value:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise _refuse(f"{path}.{name}", "missing")
                continue
            out[name] = _decode(hints[name], value[name], f"{path}.{name}")
        return tp(**out)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _decode(inner[0], value, path) if value is not None else _none(path, inner[0])
    if origin is list:
        if not isinstance(value, list) or len(value) > MAX_ITEMS:
            raise _refuse(path, f"a list (at most {MAX_ITEMS} items)")
        return [_decode(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise _refuse(path, f"a list of {len(args)} items")
        return tuple(_decode(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise _refuse(path, "an object")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _refuse(path, "true or false")
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _refuse(path, "an integer")
        return value
    if tp is str:
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise _refuse(path, f"a string (at most {MAX_TEXT} characters)")
        return value
    raise _refuse(path, f"cannot carry {tp!r}")     # a field type added above without teaching this decoder


def _none(path: str, tp) -> None:
    raise _refuse(path, f"not null ({getattr(tp, '__name__', tp)})")
