"""The data-plane contract: the manager hands over the whole desired Topology; the driver makes it so."""
from __future__ import annotations

from dataclasses import dataclass, field


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

    def teardown(self) -> None:
        """Remove everything this driver (its prefix) ever created."""
        raise NotImplementedError
