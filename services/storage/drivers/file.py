"""File volume driver: one qcow2 (or raw) file per volume via qemu-img; snapshots are independent copies."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from appliance import diskimage
from services.storage.drivers.base import GiB, DriverError, VolumeDriver


# room beyond qemu-img measure's fully-allocated size for the qcow2 metadata a remote writer adds (refcount blocks)
EXPORT_MARGIN = 16 * 1024 * 1024


def qemu_img(*args, readable=(), writable=(), timeout=3600) -> str:
    """qemu-img in the sandbox: it sees only `readable` (read-only) and `writable`, never the state dir."""
    try:
        return diskimage.run_qemu_img(list(args), readable=readable, writable=writable, timeout=timeout)
    except diskimage.QemuImgError as exc:
        raise DriverError(str(exc)) from None


def inspected(path: Path, declared: str, own_raw: bool = False) -> str:
    """The qemu-img format of a conversion's source, after oslo.utils' inspector found it safe.

    own_raw: the source is one of our raw volumes or snapshots. Its bytes are whatever a guest wrote (a qcow2
    header, a broken partition table): with -f raw qemu-img never interprets them, so they are not refused."""
    if own_raw:
        return "raw"
    try:
        found = diskimage.inspect(path, declared)
    except diskimage.UnsafeImage as exc:
        raise DriverError(f"the source {path.name} is refused: {exc}") from None
    if found.qemu_format is None:
        raise DriverError(f"cannot make a volume from a {declared} image")
    return found.qemu_format


class FileDriver(VolumeDriver):
    """Snapshots are full (sparse) copies, not overlays: a volume and its snapshots never depend on each
    other, so any delete order is safe and a snapshot→volume is just another copy."""

    name = "file"

    def __init__(self, directory: Path, fmt: str = "qcow2"):
        if fmt not in ("qcow2", "raw"):
            raise ValueError(f"volume_format must be qcow2 or raw, not {fmt!r}")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.format = fmt

    def path(self, volume_id: str) -> Path:
        return self.dir / f"volume-{volume_id}.{self.format}"

    def snapshot_path(self, snapshot_id: str) -> Path:
        return self.dir / f"snapshot-{snapshot_id}.{self.format}"

    def _tmp(self, final: Path) -> Path:
        return final.with_name(".tmp-" + final.name)

    def _publish(self, tmp: Path, final: Path) -> None:
        # a volume file appears under its real name only when complete
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)

    def _fresh(self, final: Path) -> Path:
        if final.exists():
            raise DriverError(f"{final.name} already exists")
        tmp = self._tmp(final)
        tmp.unlink(missing_ok=True)
        # the sandbox binds exactly this file writable, so it must exist (empty) before qemu-img runs
        tmp.touch(mode=0o640)
        return tmp

    def create_volume(self, volume_id, size_gb):
        final = self.path(volume_id)
        tmp = self._fresh(final)
        try:
            qemu_img("create", "-q", "-f", self.format, str(tmp), str(size_gb * GiB), writable=[tmp])
            self._publish(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _convert(self, src: Path, declared: str, final: Path, size_gb: int, own: bool = False) -> None:
        # the inspector decides the format and refuses extents, backing/data files and format lies
        # before qemu-img opens anything; qemu-img then sees only this source and the new file
        src_fmt = inspected(src, declared, own_raw=own and self.format == "raw")
        tmp = self._fresh(final)
        try:
            # -U: the source may be attached to a running guest, which holds qemu's image lock
            info = json.loads(qemu_img("info", "-U", "--output=json", "-f", src_fmt, str(src), readable=[src]))
            if info.get("backing-filename") or info.get("format-specific", {}).get("data", {}).get("data-file"):
                raise DriverError("sources with a backing or data file are refused")
            if info["virtual-size"] > size_gb * GiB:
                raise DriverError(f"the source is {info['virtual-size']} bytes; the volume is only {size_gb} GiB")
            qemu_img("convert", "-q", "-U", "-f", src_fmt, "-O", self.format, str(src), str(tmp),
                     readable=[src], writable=[tmp])
            qemu_img("resize", "-q", "-f", self.format, str(tmp), str(size_gb * GiB), writable=[tmp])
            self._publish(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def create_from_image(self, volume_id, size_gb, image_path, image_format):
        self._convert(Path(image_path), image_format, self.path(volume_id), size_gb)

    def clone_volume(self, volume_id, size_gb, source_id):
        self._convert(self._existing(self.path(source_id)), self.format, self.path(volume_id), size_gb, own=True)

    def create_snapshot(self, snapshot_id, volume_id):
        src = self._existing(self.path(volume_id))
        # a qcow2 volume's header is checked like an upload's; a raw one is opened with -f raw whatever it holds
        fmt = inspected(src, self.format, own_raw=self.format == "raw")
        final = self.snapshot_path(snapshot_id)
        tmp = self._fresh(final)
        try:
            qemu_img("convert", "-q", "-U", "-f", fmt, "-O", self.format, str(src), str(tmp),
                     readable=[src], writable=[tmp])
            self._publish(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def create_from_snapshot(self, volume_id, size_gb, snapshot_id):
        self._convert(self._existing(self.snapshot_path(snapshot_id)), self.format, self.path(volume_id), size_gb,
                      own=True)

    def delete_snapshot(self, snapshot_id):
        self.snapshot_path(snapshot_id).unlink(missing_ok=True)
        self._tmp(self.snapshot_path(snapshot_id)).unlink(missing_ok=True)

    def delete_volume(self, volume_id):
        self.path(volume_id).unlink(missing_ok=True)
        self._tmp(self.path(volume_id)).unlink(missing_ok=True)

    def extend_volume(self, volume_id, size_gb):
        path = self._existing(self.path(volume_id))
        if size_gb * GiB < self.virtual_size(volume_id):
            raise DriverError("volumes can only grow")
        qemu_img("resize", "-q", "-f", self.format, str(path), str(size_gb * GiB), writable=[path])

    def _existing(self, path: Path) -> Path:
        if not path.exists():
            raise DriverError(f"{path.name} does not exist")
        return path

    def exists(self, volume_id):
        return self.path(volume_id).exists()

    def snapshot_exists(self, snapshot_id):
        return self.snapshot_path(snapshot_id).exists()

    def virtual_size(self, volume_id):
        path = self._existing(self.path(volume_id))
        info = json.loads(qemu_img("info", "-U", "--output=json", "-f", self.format, str(path), readable=[path]))
        return int(info["virtual-size"])

    def connection_info(self, volume_id):
        path = self._existing(self.path(volume_id))
        return {"driver_volume_type": "file",
                "data": {"path": str(path.resolve()), "format": self.format, "name": f"volume-{volume_id}"}}

    def export_path(self, volume_id):
        path = self._existing(self.path(volume_id))
        if self.format == "qcow2":
            # a target fixes its LUN's size when it opens the file, and a qcow2 file grows as it is written: the
            # file is extended (sparse) first to what a fully written image needs, and qcow2 then allocates its
            # clusters inside that space
            out = qemu_img("measure", "-U", "--output=json", "-f", "qcow2", "-O", "qcow2", str(path),
                           readable=[path], timeout=120)
            need = int(json.loads(out)["fully-allocated"]) + EXPORT_MARGIN
            if path.stat().st_size < need:
                os.truncate(path, need)
        # absolute, not resolved: the target daemon runs elsewhere (its own working directory)
        return os.path.abspath(path)

    def read(self, volume_id, offset, length):
        src = self._existing(self.path(volume_id))
        if self.format == "raw":
            with open(src, "rb") as fh:
                fh.seek(offset)
                return fh.read(length).ljust(length, b"\0")
        with tempfile.TemporaryDirectory(dir=self.dir) as tmp:
            out = Path(tmp) / "range.raw"
            out.touch()
            # qemu-img dd reads the guest view; bs=1 would be slow, so read whole 512-byte sectors.
            # Its count includes the skipped blocks (qemu 7.2), hence count=end.
            start, end = offset // 512, -(-(offset + length) // 512)
            qemu_img("dd", "-U", "-f", self.format, "-O", "raw", "bs=512", f"skip={start}",
                     f"count={end}", f"if={src}", f"of={out}", readable=[src], writable=[out])
            data = out.read_bytes()
        lead = offset - start * 512
        return data[lead:lead + length].ljust(length, b"\0")

    def write(self, volume_id, offset, data):
        path = self._existing(self.path(volume_id))
        if self.format == "raw":
            with open(path, "r+b") as fh:
                fh.seek(offset)
                fh.write(data)
            return
        with tempfile.NamedTemporaryFile(dir=self.dir) as tmp:
            tmp.write(data)
            tmp.flush()
            # qemu-io writes through the qcow2 layer exactly as a guest would
            proc = subprocess.run(["qemu-io", "-f", self.format, "-c",
                                   f"write -s {tmp.name} {offset} {len(data)}", str(path)],
                                  capture_output=True, text=True, timeout=120)
            if proc.returncode != 0 or "error" in proc.stdout.lower():
                raise DriverError(f"qemu-io write failed: {proc.stderr or proc.stdout}")

    def capacity(self):
        st = os.statvfs(self.dir)
        return {"total_capacity_gb": round(st.f_blocks * st.f_frsize / GiB, 2),
                "free_capacity_gb": round(st.f_bavail * st.f_frsize / GiB, 2)}
