"""A node's compute files: its image cache (`_base`) and each guest's directory (root disk, config drive, console)."""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path

from services.compute.drivers import disks
from services.compute.drivers.specs import DriverError, NotFound

# image and server IDs become file names here, and a remote caller chooses them: one path component, never "..",
# never "_base" (the cache's own directory starts with "_")
_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,127}\Z")
_HEX = re.compile(r"[0-9a-fA-F]{32,128}\Z")
# what Glance may report as os_hash_algo (its `hashing_algorithm`: a hashlib name, sha512 by default), md5 for its
# legacy `checksum`; the shake variants need a length, so Glance cannot use them
HASH_ALGOS = tuple(sorted(a for a in hashlib.algorithms_guaranteed if not a.startswith("shake_")))
ROOT_FORMATS = ("qcow2", "raw")
CHUNK = 1 << 20


def _check_id(value, field: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise DriverError(f"Invalid {field} {value!r}: letters, digits, '-' and '_' only (at most 128).")
    return value


def _check_int(value, field: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise DriverError(f"Invalid {field} {value!r}: an integer of at least {low}.")
    return value


def _reader(fh, size: int = CHUNK) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(size):
            yield chunk


class NodeFiles:
    """<instances_dir>/_base/<image id> (images, shared by every overlay on them) and <instances_dir>/<server id>/.

    Without an instances_dir (tests, throwaway drivers) a private temporary one is made and removed with the object."""

    def __init__(self, instances_dir=None):
        if instances_dir is None:
            instances_dir = tempfile.mkdtemp(prefix="egret-instances-")
            os.chmod(instances_dir, 0o755)   # mkdtemp's 0700 would keep libvirt's qemu user out
            weakref.finalize(self, shutil.rmtree, instances_dir, True)
        self.root = Path(instances_dir)

    # -- layout ---------------------------------------------------------------------------------------------
    def _mkdir(self, path: Path) -> Path:
        # qemu runs as libvirt's own user: it must traverse to the disks (the root too, which a unit's umask
        # would otherwise leave closed to others when it makes it on first use)
        for made in (self.root, path):
            if not made.is_dir():
                made.mkdir(parents=True, exist_ok=True)
                os.chmod(made, 0o755)
        return path

    def _image(self, image_id) -> Path:
        return self.root / "_base" / _check_id(image_id, "image_id")

    def _cached(self, image_id) -> Path:
        path = self._image(image_id)
        if not path.is_file():
            raise DriverError(f"Image {image_id} is not cached on this node.")
        return path

    def _dir(self, instance_id, create: bool = False) -> Path:
        path = self.root / _check_id(instance_id, "instance_id")
        return self._mkdir(path) if create else path

    def _root_disk(self, instance_id) -> Path:
        disk = self._dir(instance_id) / "disk"
        if not disk.is_file():
            raise NotFound(f"Server {instance_id} has no root disk on this node.")
        return disk

    def _backing(self, image_id) -> list:
        """The cached base under a server's overlay: the only other file qemu-img may open through it."""
        if not image_id:
            return []
        base = self._image(image_id)
        return [base] if base.is_file() else []

    def disk_gb(self) -> int:
        """The size of the file system the instances live on (GiB), for the node's HostCaps."""
        path = self.root
        while not path.exists() and path != path.parent:
            path = path.parent
        return shutil.disk_usage(path).total >> 30

    # -- the image cache --------------------------------------------------------------------------------------
    def image_cached(self, image_id) -> bool:
        return self._image(image_id).is_file()

    def cached_image_path(self, image_id) -> str:
        return str(self._cached(image_id))

    def cache_image(self, image_id, chunks: Iterable[bytes], hash_algo=None, hash_value=None) -> None:
        target = self._image(image_id)
        digest = None
        if hash_algo is not None or hash_value is not None:
            if hash_algo not in HASH_ALGOS:
                raise DriverError(f"Invalid hash_algo {hash_algo!r} for image {image_id}: one of "
                                  f"{', '.join(HASH_ALGOS)}.")
            if not isinstance(hash_value, str) or not _HEX.match(hash_value):
                raise DriverError(f"Invalid hash_value for image {image_id}: a hexadecimal digest.")
            digest = hashlib.new(hash_algo)
        base = self._mkdir(target.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{image_id}.", suffix=".part", dir=base)
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    if not isinstance(chunk, (bytes, bytearray, memoryview)):
                        raise DriverError(f"Image {image_id}: its data must be bytes, not {type(chunk).__name__}.")
                    fh.write(chunk)
                    if digest is not None:
                        digest.update(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            if digest is not None and digest.hexdigest() != hash_value.lower():
                raise DriverError(f"Image {image_id} failed its {hash_algo} check: the data received is not what "
                                  "the image service recorded; nothing was cached.")
            os.chmod(tmp, 0o644)
            # atomic: an overlay never sees a half-written base, and concurrent caches of one image both succeed
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def drop_cached_image(self, image_id) -> bool:
        """Remove one image from the cache; True when it was there. Only for images no guest on the node uses
        (an overlay's backing file must stay): the caller knows which."""
        path = self._image(image_id)
        if not path.is_file():
            return False
        path.unlink()
        return True

    # -- a guest's files --------------------------------------------------------------------------------------
    def create_root_disk(self, instance_id, image_id, fmt, size_bytes=0) -> str:
        base = self._cached(image_id)
        if fmt not in ROOT_FORMATS:
            raise DriverError(f"Invalid fmt {fmt!r} for image {image_id}: one of {', '.join(ROOT_FORMATS)}.")
        size_bytes = _check_int(size_bytes, "size_bytes")
        disk = self._dir(instance_id, create=True) / "disk"
        if not disk.exists():   # a build resumed after a crash keeps the overlay it made
            disks.create_overlay(str(base), fmt, str(disk), size_bytes)
        return str(disk)

    def write_config_drive(self, instance_id, files: dict) -> str:
        if not isinstance(files, dict):
            raise DriverError("Invalid files: a mapping of paths inside the drive to their contents.")
        iso = self._dir(instance_id, create=True) / "disk.config"
        disks.write_iso(files, str(iso), "config-2")
        return str(iso)

    def console_path(self, instance_id) -> str:
        """Where the guest's serial console is logged. The file is made here, this service's and group-readable:
        virtlogd (root) appends to a file that exists and would make a missing one root's, 0600."""
        path = self._dir(instance_id, create=True) / "console.log"
        if not path.exists():
            path.touch(mode=0o640)
        return str(path)

    def console_log(self, instance_id, lines=None) -> str:
        if lines is not None:
            _check_int(lines, "lines")
        text = ""
        # virtlogd rotates a full log (2 MiB) to console.log.0 and starts a new one as root's: then the newest
        # file this service can read is the rotated one
        for name in ("console.log", "console.log.0"):
            try:
                with open(self._dir(instance_id) / name, errors="replace") as fh:
                    text = fh.read()
                break
            except FileNotFoundError:
                return ""
            except PermissionError:
                continue
        if lines is not None:
            text = "".join(text.splitlines(keepends=True)[-lines:]) if lines > 0 else ""
        return text

    def grow_root_disk(self, instance_id, image_id, size_gb) -> None:
        size_gb = _check_int(size_gb, "size_gb", 1)
        disks.grow(str(self._root_disk(instance_id)), size_gb, self._backing(image_id))

    def export_root_disk(self, instance_id, image_id) -> Iterator[bytes]:
        """The copy is made before this returns (so a paused guest can resume at once); its file is unlinked while
        open, so nothing is left on disk however the stream ends."""
        disk = self._root_disk(instance_id)
        tmp = disk.parent / f".export-{secrets.token_hex(6)}.qcow2"
        disks.copy_qcow2(str(disk), str(tmp), self._backing(image_id))
        try:
            fh = open(tmp, "rb")
        finally:
            tmp.unlink(missing_ok=True)
        return _reader(fh)

    def import_root_disk(self, instance_id, chunks: Iterable[bytes]) -> str:
        """Another node's export as this server's root disk: written beside it, inspected (a standalone qcow2, no
        backing or data file outside it), then put in place atomically; anything refused leaves nothing."""
        folder = self._dir(instance_id, create=True)
        fd, tmp = tempfile.mkstemp(prefix=".import-", suffix=".qcow2", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    if not isinstance(chunk, (bytes, bytearray, memoryview)):
                        raise DriverError(f"Server {instance_id}: a root disk's data must be bytes, not "
                                          f"{type(chunk).__name__}.")
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            disks.check_standalone(tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, folder / "disk")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(folder / "disk")

    def delete_instance_files(self, instance_id) -> None:
        shutil.rmtree(self._dir(instance_id), ignore_errors=True)
