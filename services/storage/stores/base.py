"""The store contract the image and object managers use; files and the in-memory fake pass the same tests."""
from __future__ import annotations

import abc
import contextlib
import dataclasses
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from appliance.chunks import read_range

from services.storage.store import UploadAborted  # noqa: F401 (part of the contract: a put that fails its bounds)


@dataclasses.dataclass(frozen=True)
class Written:
    """What a put stored: its size, the digests asked for (hex), and what `verify` returned."""
    size: int
    digests: dict[str, str]
    verified: object = None


class Store(abc.ABC):
    """Named blobs ('<image id>', '<bucket id>/<file>'); a name is visible only once its data is complete."""

    @abc.abstractmethod
    def put(self, name: str, stream: BinaryIO, *, limit: int | None = None, expected: int | None = None,
            hashes: tuple[str, ...] = ("md5",), verify: Callable[[Path], object] | None = None) -> Written:
        """Stream `stream` (bounded reads) into `name`, replacing what was there only when complete.

        UploadAborted when more than `limit` or other than `expected` bytes arrive; `verify(path)` inspects the
        complete staged data first (its exception aborts the put). Nothing is left behind by a failed put."""

    @abc.abstractmethod
    def open(self, name: str) -> BinaryIO:
        """A reader of the data as it is now: a later replace or delete does not disturb it. FileNotFoundError."""

    def read(self, name: str, start: int = 0, length: int | None = None, chunk: int = 1024 * 1024
             ) -> Iterator[bytes]:
        """A byte range in bounded chunks (for streamed responses)."""
        with self.open(name) as fh:
            fh.seek(start)
            yield from read_range(fh, length, chunk)

    @abc.abstractmethod
    def size(self, name: str) -> int:
        """Bytes stored under `name`; FileNotFoundError."""

    @abc.abstractmethod
    def exists(self, name: str) -> bool: ...

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Remove `name`; no error if it is already gone."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Every complete name under `prefix` (a folder: 'bucket-id/'), sorted."""

    @abc.abstractmethod
    def concat(self, name: str, parts: list[str]) -> int:
        """`name` becomes the parts' data end to end (none held in memory by the file store); returns its size."""

    @abc.abstractmethod
    def local_path(self, name: str) -> contextlib.AbstractContextManager[Path]:
        """A file holding the data, for tools that read files (qemu-img, the format inspector)."""

    @abc.abstractmethod
    def sweep(self, prefix: str = "") -> int:
        """Drop what interrupted puts left under `prefix`; returns how many."""

    @abc.abstractmethod
    def create_folder(self, prefix: str) -> None:
        """An (empty) folder for names under `prefix` (a bucket)."""

    @abc.abstractmethod
    def remove_folder(self, prefix: str) -> None:
        """Sweep the folder and remove it if nothing complete is left in it."""
