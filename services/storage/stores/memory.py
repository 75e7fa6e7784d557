"""The in-memory store: the same contract as the file store, for unit tests of the managers and laptops."""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import threading
from pathlib import Path

from services.storage.store import CHUNK, UploadAborted
from services.storage.stores.base import Store, Written


class MemoryStore(Store):
    def __init__(self):
        self.blobs: dict[str, bytes] = {}
        self.folders: set[str] = set()
        self.lock = threading.Lock()

    def put(self, name, stream, *, limit=None, expected=None, hashes=("md5",), verify=None) -> Written:
        buf = bytearray()
        digests = {h: hashlib.new(h) for h in hashes}
        while True:
            chunk = stream.read(CHUNK if limit is None else min(CHUNK, limit - len(buf) + 1))
            if not chunk:
                break
            buf += chunk
            for d in digests.values():
                d.update(chunk)
            if limit is not None and len(buf) > limit:
                raise UploadAborted(f"the upload exceeds the limit of {limit} bytes")
        if expected is not None and len(buf) != expected:
            raise UploadAborted(f"the upload ended after {len(buf)} of {expected} bytes")
        verified = None
        if verify is not None:
            with self._file(bytes(buf)) as path:
                verified = verify(path)
        with self.lock:
            self.blobs[name] = bytes(buf)
        return Written(len(buf), {h: d.hexdigest() for h, d in digests.items()}, verified)

    def _get(self, name) -> bytes:
        try:
            return self.blobs[name]
        except KeyError:
            raise FileNotFoundError(name) from None

    def open(self, name):
        return io.BytesIO(self._get(name))  # the bytes as they are now, like an open file's inode

    def size(self, name) -> int:
        return len(self._get(name))

    def exists(self, name) -> bool:
        return name in self.blobs

    def delete(self, name) -> None:
        with self.lock:
            self.blobs.pop(name, None)

    def list(self, prefix="") -> list[str]:
        return sorted(n for n in list(self.blobs) if n.startswith(prefix))

    def concat(self, name, parts) -> int:
        data = b"".join(self._get(p) for p in parts)
        with self.lock:
            self.blobs[name] = data
        return len(data)

    @contextlib.contextmanager
    def _file(self, data: bytes):
        fd, path = tempfile.mkstemp(prefix="egret-store-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            yield Path(path)
        finally:
            os.unlink(path)

    @contextlib.contextmanager
    def local_path(self, name):
        with self._file(self._get(name)) as path:
            yield path

    def sweep(self, prefix="") -> int:
        return 0  # a put that fails leaves nothing behind here

    def create_folder(self, prefix) -> None:
        self.folders.add(prefix)

    def remove_folder(self, prefix) -> None:
        self.folders.discard(prefix)
