"""In-memory volume driver with the file driver's contract, for unit tests and laptops."""
from __future__ import annotations

import threading

from services.storage.drivers.base import GiB, DriverError, VolumeDriver


class FakeDriver(VolumeDriver):
    name = "fake"

    def __init__(self):
        self.volumes: dict[str, dict] = {}  # id -> {"size": bytes, "blocks": {offset: bytes}}
        self.snapshots: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.fail_next: str | None = None  # tests make the next call of this name raise

    def _maybe_fail(self, op):
        if self.fail_next == op:
            self.fail_next = None
            raise DriverError(f"fake failure in {op}")

    def _new(self, volume_id, size_gb, data: bytes = b""):
        if volume_id in self.volumes:
            raise DriverError(f"volume {volume_id} already exists")
        size = size_gb * GiB
        if len(data) > size:
            raise DriverError("the source is larger than the volume")
        self.volumes[volume_id] = {"size": size, "data": bytearray(data)}

    def create_volume(self, volume_id, size_gb):
        self._maybe_fail("create_volume")
        with self.lock:
            self._new(volume_id, size_gb)

    def create_from_image(self, volume_id, size_gb, image_path, image_format):
        self._maybe_fail("create_from_image")
        if image_format not in ("raw", "qcow2"):
            raise DriverError(f"cannot convert a {image_format} image")
        data = open(image_path, "rb").read() if image_format == "raw" else b""
        with self.lock:
            self._new(volume_id, size_gb, data)

    def clone_volume(self, volume_id, size_gb, source_id):
        with self.lock:
            src = self._get(source_id)
            if size_gb * GiB < src["size"]:
                raise DriverError("a clone cannot be smaller than its source")
            self._new(volume_id, size_gb, bytes(src["data"]))

    def create_snapshot(self, snapshot_id, volume_id):
        self._maybe_fail("create_snapshot")
        with self.lock:
            src = self._get(volume_id)
            self.snapshots[snapshot_id] = {"size": src["size"], "data": bytes(src["data"])}

    def create_from_snapshot(self, volume_id, size_gb, snapshot_id):
        with self.lock:
            snap = self.snapshots.get(snapshot_id)
            if snap is None:
                raise DriverError(f"snapshot {snapshot_id} does not exist")
            if size_gb * GiB < snap["size"]:
                raise DriverError("a volume cannot be smaller than its snapshot")
            self._new(volume_id, size_gb, snap["data"])

    def delete_snapshot(self, snapshot_id):
        with self.lock:
            self.snapshots.pop(snapshot_id, None)

    def delete_volume(self, volume_id):
        self._maybe_fail("delete_volume")
        with self.lock:
            self.volumes.pop(volume_id, None)

    def extend_volume(self, volume_id, size_gb):
        self._maybe_fail("extend_volume")
        with self.lock:
            vol = self._get(volume_id)
            if size_gb * GiB < vol["size"]:
                raise DriverError("volumes can only grow")
            vol["size"] = size_gb * GiB

    def _get(self, volume_id):
        vol = self.volumes.get(volume_id)
        if vol is None:
            raise DriverError(f"volume {volume_id} does not exist")
        return vol

    def exists(self, volume_id):
        return volume_id in self.volumes

    def snapshot_exists(self, snapshot_id):
        return snapshot_id in self.snapshots

    def virtual_size(self, volume_id):
        return self._get(volume_id)["size"]

    def connection_info(self, volume_id):
        self._get(volume_id)
        return {"driver_volume_type": "file",
                "data": {"path": f"/nonexistent/fake/volume-{volume_id}", "format": "raw",
                         "name": f"volume-{volume_id}"}}

    def read(self, volume_id, offset, length):
        vol = self._get(volume_id)
        end = min(offset + length, vol["size"])
        chunk = bytes(vol["data"][offset:end])
        return chunk + b"\0" * (max(0, end - offset) - len(chunk))

    def write(self, volume_id, offset, data):
        with self.lock:
            vol = self._get(volume_id)
            if offset + len(data) > vol["size"]:
                raise DriverError("write beyond the end of the volume")
            buf = vol["data"]
            if len(buf) < offset + len(data):
                buf.extend(b"\0" * (offset + len(data) - len(buf)))
            buf[offset:offset + len(data)] = data
