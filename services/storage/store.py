"""On-disk layout of the storage service and atomic, streamed file writes (temp + fsync + rename)."""
from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from appliance.config import Settings

CHUNK = 1024 * 1024  # bounded read size: uploads never sit whole in memory


def data_root(settings: Settings) -> Path:
    """settings.section("storage")["data_dir"] overrides <state_dir>/storage."""
    override = settings.section("storage").get("data_dir")
    return Path(override) if override else settings.state_dir / "storage"


def area(settings: Settings, name: str) -> Path:
    path = data_root(settings) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


class UploadAborted(Exception):
    """The client sent fewer bytes than it announced, or the stream failed a check."""


class AtomicWriter:
    """Write to a hidden temp file in the target directory; commit() fsyncs and renames it into place."""

    def __init__(self, target: Path, hashes=("md5", "sha256")):
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.target.parent / f".tmp-{uuid.uuid4().hex}"
        self.fh = open(self.tmp, "wb")
        self.size = 0
        self.hashes = {name: hashlib.new(name) for name in hashes}
        self.extra = []  # other digests, e.g. zlib.crc32, as objects with update()

    def write(self, chunk: bytes) -> None:
        self.fh.write(chunk)
        self.size += len(chunk)
        for h in self.hashes.values():
            h.update(chunk)
        for h in self.extra:
            h.update(chunk)

    def copy_from(self, stream, limit: int | None = None, expected: int | None = None) -> None:
        """Stream `stream` in bounded chunks; `expected` bytes must arrive (a short read aborts)."""
        while True:
            want = CHUNK if limit is None else min(CHUNK, limit - self.size + 1)
            chunk = stream.read(want)
            if not chunk:
                break
            self.write(chunk)
            if limit is not None and self.size > limit:
                raise UploadAborted(f"the upload exceeds the limit of {limit} bytes")
        if expected is not None and self.size != expected:
            raise UploadAborted(f"the upload ended after {self.size} of {expected} bytes")

    def hexdigest(self, name: str) -> str:
        return self.hashes[name].hexdigest()

    def commit(self) -> Path:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.tmp, self.target)
        fsync_dir(self.target.parent)
        return self.target

    def abort(self) -> None:
        try:
            self.fh.close()
        finally:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None or not self.fh.closed:
            self.abort()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def sweep_temp_files(directory: Path) -> int:
    """Delete temp files a crash left behind (they were never visible under a real name)."""
    count = 0
    if directory.is_dir():
        for root, _dirs, files in os.walk(directory):
            for name in files:
                if name.startswith(".tmp-"):
                    remove(Path(root) / name)
                    count += 1
    return count


def parse_range(header: str | None, size: int):
    """'bytes=a-b' → (start, end inclusive); None if no header; ValueError if unsatisfiable/invalid."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        raise ValueError("only a single bytes range is supported")
    first, _, last = spec.strip().partition("-")
    if first == "":
        if not last.isdigit() or int(last) == 0:
            raise ValueError("invalid suffix range")
        n = min(int(last), size)
        start, end = size - n, size - 1
    else:
        if not first.isdigit() or (last and not last.isdigit()):
            raise ValueError("invalid range")
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise ValueError("range not satisfiable")
    return start, end
