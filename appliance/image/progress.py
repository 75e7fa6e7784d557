"""A one-line progress bar on stderr, and chunked copy/hash helpers shared by image write and update."""
from __future__ import annotations

import hashlib
import os
import sys
import time

from appliance.chunks import read_range

CHUNK = 4 * 1024 * 1024


class Progress:
    def __init__(self, total: int, label: str, stream=None, enabled: bool = True):
        self.total, self.label, self.done = max(total, 1), label, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.25 or self.done >= self.total):
            self._last = now
            frac = min(1.0, self.done / self.total)
            rate = self.done / max(now - self.started, 1e-6) / 1e6
            bar = "#" * int(frac * 30)
            self.stream.write(f"\r{self.label} [{bar:30s}] {frac * 100:5.1f}% "
                              f"{self.done / 1e6:8.1f}/{self.total / 1e6:.1f} MB {rate:6.1f} MB/s")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def sha256_file(path, size: int | None = None, offset: int = 0, progress: Progress | None = None) -> str:
    """sha256 of `size` bytes of `path` from `offset` (the whole file when size is None)."""
    h = hashlib.sha256()
    done = 0
    with open(path, "rb") as fh:
        fh.seek(offset)
        for block in read_range(fh, size, CHUNK):
            h.update(block)
            done += len(block)
            if progress:
                progress.update(len(block))
    if size is not None and done < size:
        raise IOError(f"{path}: {size - done} bytes short of the expected size")
    return h.hexdigest()


def copy_into(src_stream, dst_path, offset: int, total: int, progress: Progress | None = None) -> tuple[int, str]:
    """Write src_stream into dst_path at offset (no truncation); fsync; return (bytes, sha256 written)."""
    h = hashlib.sha256()
    written = 0
    fd = os.open(dst_path, os.O_WRONLY)
    try:
        os.lseek(fd, offset, os.SEEK_SET)
        while True:
            block = src_stream.read(CHUNK)
            if not block:
                break
            if written + len(block) > total:
                raise ValueError(f"source is larger than the {total}-byte target")
            view = memoryview(block)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            h.update(block)
            written += len(block)
            if progress:
                progress.update(len(block))
        os.fsync(fd)
    finally:
        os.close(fd)
    return written, h.hexdigest()
