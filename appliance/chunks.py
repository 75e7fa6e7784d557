"""Reading a stretch of a file in bounded chunks, so that no file or image sits whole in memory."""
from __future__ import annotations

from typing import BinaryIO, Iterator


def read_range(fh: BinaryIO, length: int | None = None, chunk: int = 1024 * 1024) -> Iterator[bytes]:
    """Up to `length` bytes from fh's current position (to the end when None), `chunk` bytes at a time."""
    remaining = length
    while remaining is None or remaining > 0:
        data = fh.read(chunk if remaining is None else min(chunk, remaining))
        if not data:
            return
        if remaining is not None:
            remaining -= len(data)
        yield data
