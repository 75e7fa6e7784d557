"""The volume driver contract every backend (fake, file, LVM thin) passes the same tests for."""
from __future__ import annotations

import abc

GiB = 1024 ** 3


class DriverError(Exception):
    """The backend failed; the message says what it was doing."""


class VolumeDriver(abc.ABC):
    name = "base"

    @abc.abstractmethod
    def create_volume(self, volume_id: str, size_gb: int) -> None:
        """A blank volume of size_gb GiB, reading as zeros."""

    @abc.abstractmethod
    def create_from_image(self, volume_id: str, size_gb: int, image_path, image_format: str) -> None:
        """A volume holding the image's disk contents, grown to size_gb GiB."""

    @abc.abstractmethod
    def clone_volume(self, volume_id: str, size_gb: int, source_id: str) -> None:
        """An independent copy of another volume, grown to size_gb GiB."""

    @abc.abstractmethod
    def create_snapshot(self, snapshot_id: str, volume_id: str) -> None:
        """A point-in-time copy; the volume and its snapshots can be deleted in any order."""

    @abc.abstractmethod
    def create_from_snapshot(self, volume_id: str, size_gb: int, snapshot_id: str) -> None:
        """A volume holding a snapshot's contents, grown to size_gb GiB."""

    @abc.abstractmethod
    def delete_snapshot(self, snapshot_id: str) -> None:
        """Remove a snapshot; no error if it is already gone."""

    @abc.abstractmethod
    def delete_volume(self, volume_id: str) -> None:
        """Remove a volume; no error if it is already gone."""

    @abc.abstractmethod
    def extend_volume(self, volume_id: str, size_gb: int) -> None:
        """Grow a volume (never shrink)."""

    @abc.abstractmethod
    def exists(self, volume_id: str) -> bool: ...

    @abc.abstractmethod
    def snapshot_exists(self, snapshot_id: str) -> bool: ...

    @abc.abstractmethod
    def virtual_size(self, volume_id: str) -> int:
        """The volume's size in bytes as a guest sees it."""

    @abc.abstractmethod
    def connection_info(self, volume_id: str) -> dict:
        """{"driver_volume_type": ..., "data": {...}} for compute to attach the volume."""

    @abc.abstractmethod
    def read(self, volume_id: str, offset: int, length: int) -> bytes:
        """Guest-visible bytes of a volume (used by tests and image export)."""

    @abc.abstractmethod
    def write(self, volume_id: str, offset: int, data: bytes) -> None:
        """Write guest-visible bytes (what an attached guest would do; used by tests)."""

    def export_path(self, volume_id: str) -> str:
        """The absolute path an iSCSI target serves as the volume's LUN, ready for a remote writer."""
        raise DriverError(f"the {self.name} backend cannot export volumes over iSCSI")

    def capacity(self) -> dict:
        return {"total_capacity_gb": "infinite", "free_capacity_gb": "infinite"}
