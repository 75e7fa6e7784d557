"""The compute driver contract: guest specs in, domains and their power states out."""
from __future__ import annotations

from dataclasses import dataclass, field

# Nova's power_state codes, as the API shows them in OS-EXT-STS:power_state
NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED = 0, 1, 3, 4, 6, 7


class DriverError(Exception):
    """The hypervisor refused or failed an operation; the message is shown to the user as a fault."""


class UnsupportedSpec(DriverError):
    """A flavor extra spec the host cannot provide (no huge pages, no dedicated CPUs, too few NUMA nodes)."""


class NotFound(DriverError):
    """No such domain."""


@dataclass
class DiskSpec:
    path: str
    target: str                  # vda, vdb, sda
    format: str = "qcow2"
    bus: str = "virtio"
    device: str = "disk"         # disk | cdrom
    source_type: str = "file"    # file | block
    readonly: bool = False
    serial: str | None = None


@dataclass
class VifSpec:
    bridge: str
    tap: str
    mac: str
    port_id: str = ""


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
    hugepages: dict = field(default_factory=dict)         # page size KiB -> free pages
    hypervisor_version: int = 0
    arch: str = "x86_64"


class ComputeDriver:
    """One hypervisor on one host. Domain names carry the configured prefix; list_domains sees only those."""

    prefix: str = "egret-"

    def host_caps(self) -> HostCaps:
        raise NotImplementedError

    def cached_caps(self) -> HostCaps | None:
        """host_caps() if already known (never blocks on the hypervisor)."""
        return None

    def check_extra_specs(self, extra_specs: dict, vcpus: int, memory_mb: int) -> None:
        from services.compute.drivers.libvirt.xml import check_extra_specs
        check_extra_specs(extra_specs, vcpus, memory_mb, self.host_caps())

    def domain_xml_for(self, spec: GuestSpec) -> str:
        from services.compute.drivers.libvirt.xml import domain_xml
        return domain_xml(spec, self.host_caps())

    def spawn(self, spec: GuestSpec) -> None:
        """Define and start the guest."""
        raise NotImplementedError

    def define(self, spec: GuestSpec) -> None:
        """Define without starting (used for XML checks)."""
        raise NotImplementedError

    def destroy(self, name: str) -> None:
        """Stop and undefine; a missing domain is not an error."""
        raise NotImplementedError

    def power_off(self, name: str, timeout: float = 0) -> None:
        raise NotImplementedError

    def power_on(self, name: str) -> None:
        raise NotImplementedError

    def reboot(self, name: str, hard: bool = False) -> None:
        raise NotImplementedError

    def pause(self, name: str) -> None:
        raise NotImplementedError

    def unpause(self, name: str) -> None:
        raise NotImplementedError

    def suspend(self, name: str) -> None:
        raise NotImplementedError

    def resume(self, name: str) -> None:
        raise NotImplementedError

    def power_state(self, name: str) -> int:
        """Nova power state; NOSTATE if the domain does not exist."""
        raise NotImplementedError

    def list_domains(self) -> list[str]:
        raise NotImplementedError

    def xml(self, name: str) -> str:
        raise NotImplementedError

    def console_log(self, path: str, lines: int | None = None) -> str:
        try:
            with open(path, errors="replace") as fh:
                text = fh.read()
        except FileNotFoundError:
            return ""
        if lines is not None:
            text = "".join(text.splitlines(keepends=True)[-lines:]) if lines > 0 else ""
        return text

    def attach_disk(self, name: str, disk: DiskSpec) -> None:
        raise NotImplementedError

    def detach_disk(self, name: str, target: str) -> None:
        raise NotImplementedError

    def attach_vif(self, name: str, vif: VifSpec) -> None:
        raise NotImplementedError

    def detach_vif(self, name: str, vif: VifSpec) -> None:
        raise NotImplementedError
