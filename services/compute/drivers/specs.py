"""What crosses the compute driver contract: guest, disk and NIC specs, host capabilities, power states, errors."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# Nova's power_state codes, as the API shows them in OS-EXT-STS:power_state
NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED = 0, 1, 3, 4, 6, 7


class DriverError(Exception):
    """The hypervisor refused or failed an operation; the message is shown to the user as a fault."""


class UnsupportedSpec(DriverError):
    """A flavor extra spec the host cannot provide (no huge pages, no dedicated CPUs, too few NUMA nodes)."""


class HostLacks(UnsupportedSpec):
    """A well-formed extra spec this host is too small for (another host may do): the flavor itself is valid."""


class NotFound(DriverError):
    """No such domain."""


@dataclass
class DiskSpec:
    path: str                    # file | block: the node's path; network: the source name ("<target iqn>/<lun>")
    target: str                  # vda, vdb, sda
    format: str = "qcow2"
    bus: str = "virtio"
    device: str = "disk"         # disk | cdrom
    source_type: str = "file"    # file | block | network
    readonly: bool = False
    serial: str | None = None
    # a network disk (a volume another node exports): QEMU's own initiator logs in to the target with CHAP
    protocol: str | None = None        # iscsi
    portal: str | None = None          # "host:port" ("[v6]:port")
    initiator: str | None = None       # this node's IQN, which the target's ACL admits
    auth_username: str | None = None
    # the CHAP secret goes into a libvirt secret, never into the domain XML, a repr or a log; None: a secret the
    # node holds already (a definition read back for a resize on the same node)
    auth_password: str | None = field(default=None, repr=False)


VIF_KINDS = ("bridge", "hostdev", "direct")
MACVTAP_MODES = ("passthrough", "vepa", "bridge", "private")
PCI_ADDRESS = re.compile(r"[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]")


def valid_ifname(name) -> bool:
    """A Linux interface name: 1-15 characters, no '/', no whitespace, not '.' or '..'."""
    return (isinstance(name, str) and 0 < len(name) <= 15 and "/" not in name and name not in (".", "..")
            and not any(c.isspace() or ord(c) < 32 for c in name))


@dataclass
class VifSpec:
    """A guest NIC. bridge: a tap on a Linux bridge. hostdev: an SR-IOV virtual function given to the guest whole
    (PCI passthrough, optional VLAN tag). direct: macvtap on the VF's netdev (source_dev, passthrough mode).
    The binding data comes from the network service: it is checked here, on construction."""
    bridge: str = ""
    tap: str = ""
    mac: str = ""
    port_id: str = ""
    kind: str = "bridge"
    pci_address: str = ""            # hostdev: the VF's host PCI address, DDDD:BB:SS.F
    vlan: int | None = None          # hostdev: the VLAN libvirt sets on the VF (1-4094); None: untagged
    source_dev: str = ""             # direct: the VF's netdev on the host
    mode: str = "passthrough"        # direct: macvtap mode

    def __post_init__(self):
        if self.kind not in VIF_KINDS:
            raise UnsupportedSpec(f"Invalid interface kind {str(self.kind)[:20]!r}: use bridge, hostdev or direct.")
        if self.kind == "hostdev":
            if not isinstance(self.pci_address, str) or not PCI_ADDRESS.fullmatch(self.pci_address):
                raise UnsupportedSpec(f"Invalid pci_address {str(self.pci_address)[:40]!r}: expected DDDD:BB:SS.F.")
            self.pci_address = self.pci_address.lower()
        if self.vlan is not None and (isinstance(self.vlan, bool) or not isinstance(self.vlan, int)
                                      or not 1 <= self.vlan <= 4094):
            raise UnsupportedSpec(f"Invalid vlan {str(self.vlan)[:20]!r}: expected 1-4094.")
        if self.kind == "direct":
            if not valid_ifname(self.source_dev):
                raise UnsupportedSpec(f"Invalid source_dev {str(self.source_dev)[:40]!r}: not a network device name.")
            if self.mode not in MACVTAP_MODES:
                raise UnsupportedSpec(f"Invalid mode {str(self.mode)[:20]!r}: use {', '.join(MACVTAP_MODES)}.")

    def pci_parts(self) -> dict:
        """The PCI address as libvirt's <address type='pci'> attributes."""
        domain, bus, rest = self.pci_address.split(":")
        slot, function = rest.split(".")
        return {"domain": f"0x{domain}", "bus": f"0x{bus}", "slot": f"0x{slot}", "function": f"0x{function}"}


@dataclass
class GuestSpec:
    name: str
    uuid: str
    vcpus: int
    memory_mb: int
    disks: list = field(default_factory=list)
    vifs: list = field(default_factory=list)
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    console_log: str = ""
    extra_specs: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    cpuset: list[int] | None = None   # the dedicated host CPUs the scheduler's claim holds: vCPU i runs on cpuset[i]
    page_kib: int | None = None       # the huge-page size the claim counted the guest's memory in


@dataclass
class HostCaps:
    """What the host can give guests; the extra-spec checks and the XML builder read only this."""
    domain_type: str = "qemu"
    domain_type_reason: str = ""
    hostname: str = "localhost"
    cpus: int = 1
    memory_mb: int = 1024
    numa_nodes: int = 1
    dedicated_cpus: list = field(default_factory=list)   # pCPUs set aside for pinned guests
    thread_siblings: list = field(default_factory=list)  # SMT: each core's threads ([[0, 2], [1, 3]]); [] unknown
    hugepages: dict = field(default_factory=dict)         # page size KiB -> free pages
    hypervisor_version: int = 0
    arch: str = "x86_64"
    disk_gb: int = 0                                      # the file system of the node's instances (0: unknown)
    # what the node's own [service.compute] says of its zone and allocation ratios (placement_of): on a site they
    # win over the control plane's settings, as each nova-compute's own nova.conf does
    placement: dict = field(default_factory=dict)


PLACEMENT_KEYS = ("cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio")


def placement_of(section) -> dict:
    """The node's availability_zone and allocation ratios from its compute settings, where they name them; a
    value that is not one (an empty zone, a ratio that is not a positive number) is left out."""
    out = {}
    zone = section.get("availability_zone")
    if isinstance(zone, str) and zone.strip():
        out["availability_zone"] = zone.strip()
    for key in PLACEMENT_KEYS:
        try:
            value = float(section[key])
        except (KeyError, TypeError, ValueError):
            continue
        if value > 0:
            out[key] = value
    return out


class UnsafeDisk(DriverError):
    """An image the inspector refuses: not what its format says, or naming files outside itself."""
