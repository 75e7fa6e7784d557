"""Disk image inspection for storage: a thin adapter over appliance.diskimage (oslo.utils' format inspector)."""
from __future__ import annotations

from pathlib import Path

from appliance import diskimage

# kept as the storage service's name for a refused image
FormatError = diskimage.UnsafeImage


def check(path: Path, declared: str) -> dict:
    """Inspect `path`, insist it matches `declared` and is safe; {"format", "qemu_format", "virtual_size"}."""
    found = diskimage.inspect(path, declared)
    return {"format": found.detected, "qemu_format": found.qemu_format, "virtual_size": found.virtual_size}
