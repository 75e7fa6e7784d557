"""LVM thin volume driver: thin LVs in a thin pool, thin snapshots; needs device-mapper (the appliance kernel)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from services.storage.drivers.base import GiB, DriverError, VolumeDriver
from services.storage.drivers.file import inspected, qemu_img


def device_mapper_available() -> bool:
    return Path("/dev/mapper/control").exists()


def run(*cmd, timeout=600) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise DriverError(f"{cmd[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


class LvmThinDriver(VolumeDriver):
    """Volumes are thin LVs `volume-<id>` in `vg/pool`; snapshots are thin snapshots `_snapshot-<id>`.
    Thin snapshots share blocks with their origin but are independent LVs, so any delete order works."""

    name = "lvm"

    def __init__(self, volume_group: str, thin_pool: str):
        self.vg = volume_group
        self.pool = thin_pool

    def lv(self, volume_id: str) -> str:
        return f"volume-{volume_id}"

    def snap(self, snapshot_id: str) -> str:
        # LVM reserves LV names starting with "snapshot" (lvcreate refuses them); Cinder's LVM driver escapes
        # them the same way
        return f"_snapshot-{snapshot_id}"

    def device(self, name: str) -> str:
        return f"/dev/{self.vg}/{name}"

    def _lv_exists(self, name: str) -> bool:
        proc = subprocess.run(["lvs", "--noheadings", "-o", "lv_name", f"{self.vg}/{name}"],
                              capture_output=True, text=True)
        return proc.returncode == 0 and proc.stdout.strip() == name

    def create_volume(self, volume_id, size_gb):
        # a new thin LV is active (its /dev node exists) once lvcreate returns
        run("lvcreate", "-q", "-T", f"{self.vg}/{self.pool}", "-V", f"{size_gb}g", "-n", self.lv(volume_id), "-y")

    def create_from_image(self, volume_id, size_gb, image_path, image_format):
        # inspected before any LV exists or qemu-img opens it: extents, backing/data files and format lies
        # are refused here, and qemu-img then sees only the image and the new LV's device node
        fmt = inspected(Path(image_path), image_format)
        self.create_volume(volume_id, size_gb)
        try:
            qemu_img("convert", "-q", "-n", "-f", fmt, "-O", "raw", str(image_path), self.device(self.lv(volume_id)),
                     readable=[image_path], writable=[self.device(self.lv(volume_id))])
        except BaseException:
            self.delete_volume(volume_id)
            raise

    def _snapshot_lv(self, new_name: str, origin: str, size_gb: int | None) -> None:
        # thin snapshots get the activation-skip flag by default; -kn leaves it off, so the new LV is active
        # at once and after every reboot (no separate `lvchange -ay -K`, which costs another LVM scan)
        run("lvcreate", "-q", "-s", "-kn", "-n", new_name, f"{self.vg}/{origin}", "-y")
        if size_gb is not None and size_gb * GiB > self._size(new_name):
            run("lvextend", "-q", "-L", f"{size_gb}g", f"{self.vg}/{new_name}")

    def clone_volume(self, volume_id, size_gb, source_id):
        self._snapshot_lv(self.lv(volume_id), self.lv(source_id), size_gb)

    def create_snapshot(self, snapshot_id, volume_id):
        self._snapshot_lv(self.snap(snapshot_id), self.lv(volume_id), None)

    def create_from_snapshot(self, volume_id, size_gb, snapshot_id):
        self._snapshot_lv(self.lv(volume_id), self.snap(snapshot_id), size_gb)

    def _remove(self, name: str) -> None:
        if self._lv_exists(name):
            run("lvremove", "-q", "-f", f"{self.vg}/{name}")

    def delete_snapshot(self, snapshot_id):
        self._remove(self.snap(snapshot_id))

    def delete_volume(self, volume_id):
        self._remove(self.lv(volume_id))

    def extend_volume(self, volume_id, size_gb):
        if size_gb * GiB < self._size(self.lv(volume_id)):
            raise DriverError("volumes can only grow")
        run("lvextend", "-q", "-L", f"{size_gb}g", f"{self.vg}/{self.lv(volume_id)}")

    def _size(self, name: str) -> int:
        out = run("lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "lv_size", f"{self.vg}/{name}")
        return int(out.strip())

    def exists(self, volume_id):
        return self._lv_exists(self.lv(volume_id))

    def snapshot_exists(self, snapshot_id):
        return self._lv_exists(self.snap(snapshot_id))

    def virtual_size(self, volume_id):
        return self._size(self.lv(volume_id))

    def connection_info(self, volume_id):
        if not self.exists(volume_id):
            raise DriverError(f"volume {volume_id} does not exist")
        return {"driver_volume_type": "block",
                "data": {"path": self.device(self.lv(volume_id)), "format": "raw", "name": self.lv(volume_id)}}

    def export_path(self, volume_id):
        if not self.exists(volume_id):
            raise DriverError(f"volume {volume_id} does not exist")
        return self.device(self.lv(volume_id))

    def read(self, volume_id, offset, length):
        with open(self.device(self.lv(volume_id)), "rb") as fh:
            fh.seek(offset)
            return fh.read(length)

    def write(self, volume_id, offset, data):
        fd = os.open(self.device(self.lv(volume_id)), os.O_WRONLY)
        try:
            os.pwrite(fd, data, offset)
            os.fsync(fd)
        finally:
            os.close(fd)

    def capacity(self):
        out = run("lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "lv_size,data_percent",
                  f"{self.vg}/{self.pool}").split()
        total = int(out[0])
        used = total * float(out[1]) / 100 if len(out) > 1 else 0
        return {"total_capacity_gb": round(total / GiB, 2), "free_capacity_gb": round((total - used) / GiB, 2)}
