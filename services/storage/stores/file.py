"""The file store: one file per name under a directory, written to a temp file, fsynced and renamed in place."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from services.storage import store
from services.storage.stores.base import Store, Written


class FileStore(Store):
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.root / name

    def put(self, name, stream, *, limit=None, expected=None, hashes=("md5",), verify=None) -> Written:
        writer = store.AtomicWriter(self.path(name), hashes=hashes)
        try:
            writer.copy_from(stream, limit=limit, expected=expected)
            verified = None
            if verify is not None:
                writer.fh.flush()
                verified = verify(writer.tmp)
        except BaseException:
            writer.abort()
            raise
        writer.commit()
        return Written(writer.size, {h: writer.hexdigest(h) for h in hashes}, verified)

    def open(self, name):
        # an open file keeps its inode: a replace (rename) or delete (unlink) does not disturb this reader
        return open(self.path(name), "rb")

    def size(self, name) -> int:
        return self.path(name).stat().st_size

    def exists(self, name) -> bool:
        return self.path(name).is_file()

    def delete(self, name) -> None:
        store.remove(self.path(name))

    def list(self, prefix="") -> list[str]:
        base = self.root / prefix if prefix.endswith("/") else self.root
        out = []
        for root, _dirs, files in os.walk(base):
            for f in files:
                rel = os.path.relpath(os.path.join(root, f), self.root)
                if not f.startswith(".tmp-") and rel.startswith(prefix):
                    out.append(rel)
        return sorted(out)

    def concat(self, name, parts) -> int:
        target = self.path(name)
        tmp = target.with_name(".tmp-" + target.name)
        size = 0
        try:
            with open(tmp, "wb") as out:
                for part in parts:
                    with open(self.path(part), "rb") as src:
                        # copy_file_range moves the bytes in the kernel; no part sits in our memory
                        remaining = os.fstat(src.fileno()).st_size
                        while remaining:
                            n = os.copy_file_range(src.fileno(), out.fileno(), remaining)
                            if n == 0:
                                raise OSError("part file shorter than recorded")
                            remaining -= n
                            size += n
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
            store.fsync_dir(target.parent)
        except BaseException:
            store.remove(tmp)
            raise
        return size

    @contextlib.contextmanager
    def local_path(self, name):
        yield self.path(name)

    def sweep(self, prefix="") -> int:
        return store.sweep_temp_files(self.root / prefix)

    def create_folder(self, prefix) -> None:
        (self.root / prefix).mkdir(parents=True, exist_ok=True)

    def remove_folder(self, prefix) -> None:
        d = self.root / prefix
        if d.is_dir():
            store.sweep_temp_files(d)
            try:
                d.rmdir()
            except OSError:
                pass
