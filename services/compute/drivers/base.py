"""The compute driver contract: guest specs in, domains and their power states out."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from appliance.config import GUEST_FILES
from services.compute.drivers import hardware
from services.compute.drivers.libvirt import xml as domainxml
from services.compute.drivers.nodefiles import NodeFiles
# the contract's data types and errors, re-exported: callers name them as base.DiskSpec, base.NotFound, ...
from services.compute.drivers.specs import (  # noqa: F401
    CRASHED, NOSTATE, PAUSED, RUNNING, SHUTDOWN, SUSPENDED, DiskSpec, DriverError, GuestSpec, HostCaps, NotFound,
    UnsafeDisk, UnsupportedSpec, VifSpec)


class ComputeDriver:
    """One hypervisor on one host. Domain names carry the configured prefix; list_domains sees only those."""

    prefix: str = "egret-"

    def __init__(self, instances_dir=None):
        # None: a private temporary directory (tests, throwaway drivers); from_settings always names one
        self.files = NodeFiles(instances_dir)

    def domain_prefix(self) -> str:
        """This node's domain-name prefix: a site's nodes may each have their own, and the control plane names a
        server's domain after the node it is placed on (the node's list_domains sees only its own prefix)."""
        return self.prefix

    def host_caps(self) -> HostCaps:
        raise NotImplementedError

    def cached_caps(self) -> HostCaps | None:
        """host_caps() if already known (never blocks on the hypervisor)."""
        return None

    def refresh_caps(self) -> HostCaps:
        """host_caps() asked of the hypervisor again: a running node's capacity changes (huge pages reserved, a
        disk grown, CPUs isolated), and the scheduler counts what it has now (services/compute/capacity.py)."""
        return self.host_caps()

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

    def attach_disk(self, name: str, disk: DiskSpec) -> None:
        raise NotImplementedError

    def detach_disk(self, name: str, target: str) -> None:
        raise NotImplementedError

    def attach_vif(self, name: str, vif: VifSpec) -> None:
        raise NotImplementedError

    def detach_vif(self, name: str, vif: VifSpec) -> None:
        raise NotImplementedError

    # -- the node's files: its image cache and each guest's directory (a remote driver does this on its node) -----
    # Paths returned here are the node's own: the manager passes them back in specs and never opens them.
    def image_cached(self, image_id: str) -> bool:
        """Whether the image's data is in this node's cache (the builder downloads it only when it is not)."""
        return self.files.image_cached(image_id)

    def cache_image(self, image_id: str, chunks: Iterable[bytes], hash_algo: str | None = None,
                    hash_value: str | None = None) -> None:
        """Cache an image from its data as chunks, checked against the image service's checksum (hash_algo:
        md5/sha1/sha224/sha256/sha384/sha512, hash_value: hex; both None: nothing to check against). A mismatch
        is a DriverError naming the image and leaves nothing behind; the cached file appears atomically."""
        self.files.cache_image(image_id, chunks, hash_algo, hash_value)

    def cached_image_path(self, image_id: str) -> str:
        """The cached image's file (a kernel or ramdisk for GuestSpec); DriverError if it is not cached."""
        return self.files.cached_image_path(image_id)

    def create_root_disk(self, instance_id: str, image_id: str, fmt: str, size_bytes: int = 0) -> str:
        """A qcow2 overlay on the cached image (fmt: its format, qcow2 or raw), grown to size_bytes if that is
        larger than the image; the image is inspected first (UnsafeDisk if the inspector refuses it). An existing
        root disk is kept. Returns the disk's path for DiskSpec.path."""
        return self.files.create_root_disk(instance_id, image_id, fmt, size_bytes)

    def write_config_drive(self, instance_id: str, files: dict) -> str:
        """An ISO9660 volume labelled config-2 holding files {relative path inside the drive: str or bytes};
        returns its path for a DiskSpec."""
        return self.files.write_config_drive(instance_id, files)

    def console_path(self, instance_id: str) -> str:
        """Where the guest's serial console is logged (GuestSpec.console_log); its directory is made."""
        return self.files.console_path(instance_id)

    def console_log(self, instance_id: str, lines: int | None = None) -> str:
        """The guest's console log, or its last `lines` lines; "" if it has none."""
        return self.files.console_log(instance_id, lines)

    def grow_root_disk(self, instance_id: str, image_id: str | None, size_gb: int) -> None:
        """Grow the server's root disk to size_gb GiB (a resize to a bigger flavor); image_id: the image under it.
        NotFound if the server has no root disk here."""
        self.files.grow_root_disk(instance_id, image_id, size_gb)

    def export_root_disk(self, instance_id: str, image_id: str | None) -> Iterator[bytes]:
        """A standalone qcow2 copy of the root disk and its image (a snapshot's data), made before this returns
        and streamed in chunks; the copy's file is gone however the stream ends."""
        return self.files.export_root_disk(instance_id, image_id)

    def import_root_disk(self, instance_id: str, chunks: Iterable[bytes]) -> str:
        """The server's root disk from another node's export_root_disk (a cold migration): a standalone qcow2,
        inspected before use (UnsafeDisk: a backing or data file, a format lie) and put in place atomically,
        replacing any root disk the server had here; nothing is left when it is refused. Returns its path."""
        return self.files.import_root_disk(instance_id, chunks)

    def delete_instance_files(self, instance_id: str) -> None:
        """Remove the server's directory on this node (its root disk, config drive and console log)."""
        self.files.delete_instance_files(instance_id)


def instances_dir(settings) -> Path:
    """Where a node keeps its image cache and guests' files: `[compute] instances_dir`, else the state dir's."""
    return Path(settings.section("compute").get("instances_dir") or settings.state_dir / GUEST_FILES)
