"""The compute driver contract: guest specs in, domains and their power states out."""
from __future__ import annotations

from services.compute.drivers import disks, hardware
from services.compute.drivers.libvirt import xml as domainxml
# the contract's data types and errors, re-exported: callers name them as base.DiskSpec, base.NotFound, ...
from services.compute.drivers.specs import (  # noqa: F401
    CRASHED, NOSTATE, PAUSED, RUNNING, SHUTDOWN, SUSPENDED, DiskSpec, DriverError, GuestSpec, HostCaps, NotFound,
    UnsafeDisk, UnsupportedSpec, VifSpec)


class ComputeDriver:
    """One hypervisor on one host. Domain names carry the configured prefix; list_domains sees only those."""

    prefix: str = "egret-"

    def host_caps(self) -> HostCaps:
        raise NotImplementedError

    def cached_caps(self) -> HostCaps | None:
        """host_caps() if already known (never blocks on the hypervisor)."""
        return None

    def check_extra_specs(self, extra_specs: dict, vcpus: int, memory_mb: int) -> None:
        hardware.check_extra_specs(extra_specs, vcpus, memory_mb, self.host_caps())

    def domain_xml_for(self, spec: GuestSpec) -> str:
        return domainxml.domain_xml(spec, self.host_caps())

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

    def reboot(self, name: str, hard: bool = False, timeout: float = 0) -> None:
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

    def xml(self, name: str, inactive: bool = False) -> str:
        """The domain's definition as running; inactive: as persisted for its next start (a hot-unplugged device
        leaves it at once, the running guest only once it lets the device go)."""
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

    # -- a guest's files, on the node that runs it (a remote driver does this on its node) ----------------------
    def create_overlay(self, base: str, fmt: str, overlay: str, size_bytes: int = 0) -> None:
        """A qcow2 overlay on an inspected base image (UnsafeDisk if the inspector refuses it), grown to size_bytes
        if that is larger than the image."""
        disks.create_overlay(base, fmt, overlay, size_bytes)

    def grow_disk(self, path: str, size_gb: int, backing=()) -> None:
        """Grow a qcow2 disk to size_gb GiB (a resize to a bigger root disk); `backing`: the files under it."""
        disks.grow(path, size_gb, backing)

    def copy_disk(self, path: str, dest: str, backing=()) -> None:
        """A standalone qcow2 copy of a disk and its backing chain (a snapshot's image); no dest on failure."""
        disks.copy_qcow2(path, dest, backing)

    def write_config_drive(self, files: dict, dest: str) -> None:
        """An ISO9660 volume labelled config-2 holding files {path inside the drive: str or bytes}."""
        disks.write_iso(files, dest, "config-2")
