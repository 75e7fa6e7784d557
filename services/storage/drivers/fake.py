"""In-memory volume driver and iSCSI target with the real ones' contracts, for unit tests and laptops."""
from __future__ import annotations

import os
import threading

from services.storage.drivers.base import GiB, DriverError, VolumeDriver
from services.storage.drivers.tgt import check_value


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

    def export_path(self, volume_id):
        self._get(volume_id)
        # what a target would be handed; the fake target that goes with this driver never opens it
        return f"/nonexistent/fake/volume-{volume_id}"


class FakeTarget:
    """An in-memory iSCSI target with TgtTarget's contract (services/storage/drivers/tgt.py)."""

    name = "fake"

    def __init__(self, portal: str = "127.0.0.1:3260", unavailable: str | None = None,
                 paths_must_exist: bool = True):
        """`unavailable`: the reason available() gives (tgtd missing); `paths_must_exist`: refuse a missing file,
        as tgtd does (off for the fake volume driver, whose volumes are not files)."""
        self.portal = portal
        self.unavailable = unavailable
        self.paths_must_exist = paths_must_exist
        self.running = False
        self.starts = 0
        self.exported: dict[str, dict] = {}
        self.passwords: dict[str, str] = {}
        self.lock = threading.Lock()
        self.fail_next: str | None = None  # "export" or "unexport": the next such call fails

    def available(self):
        return self.unavailable

    def ensure_running(self) -> bool:
        if self.unavailable:
            raise DriverError(self.unavailable)
        if self.running:
            return False
        self.running, self.starts = True, self.starts + 1
        return True

    def stop(self) -> None:
        """What a dead tgtd leaves: nothing exported."""
        self.running = False
        self.exported.clear()
        self.passwords.clear()

    def answers(self) -> bool:
        return self.running

    def targets(self):
        return {iqn: {**t, "initiators": list(t["initiators"]), "accounts": list(t["accounts"])}
                for iqn, t in self.exported.items()} if self.running else {}

    def export(self, target_iqn, path, initiator_iqn, username, password):
        for field, value in (("target name", target_iqn), ("path", path), ("initiator name", initiator_iqn),
                             ("CHAP user", username), ("CHAP password", password)):
            check_value(field, value)
        if not path.startswith("/"):
            raise DriverError(f"refusing relative path {path!r}")
        with self.lock:
            if not self.running:
                raise DriverError("tgtd is not running")
            existing = self.exported.get(target_iqn)
            if existing is not None:
                if existing["path"] != path:
                    raise DriverError(f"target {target_iqn} already exports {existing['path']}, not {path}")
                if existing["initiators"] == [initiator_iqn] and existing["accounts"] == [username]:
                    return
                del self.exported[target_iqn]
            if self.paths_must_exist and not os.path.exists(path):
                raise DriverError(f"can't find the backing store {path}")
            if self.fail_next == "export":
                self.fail_next = None
                raise DriverError("fake failure in export")
            taken = {t["tid"] for t in self.exported.values()}
            tid = next(n for n in range(1, len(taken) + 2) if n not in taken)
            self.exported[target_iqn] = {"tid": tid, "path": path, "initiators": [initiator_iqn],
                                         "accounts": [username]}
            self.passwords[username] = password

    def unexport(self, target_iqn):
        if self.fail_next == "unexport" and target_iqn in self.exported:
            self.fail_next = None
            raise DriverError("fake failure in unexport")
        with self.lock:
            found = self.exported.pop(target_iqn, None)
            for user in (found or {}).get("accounts", ()):
                self.passwords.pop(user, None)

    def login(self, target_iqn, initiator_iqn, username, password) -> bool:
        """What an initiator's login would get (a real one is tested with qemu-io against tgtd)."""
        t = self.targets().get(target_iqn)
        return bool(t and initiator_iqn in t["initiators"] and username in t["accounts"] and
                    self.passwords.get(username) == password)
