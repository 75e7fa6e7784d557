"""Disk image format inspection: what a file really is, and whether a qcow2 points outside itself."""
from __future__ import annotations

import struct
from pathlib import Path

QCOW2_MAGIC = b"QFI\xfb"
# qcow2 v3 incompatible feature bit 2: the guest data lives in an external data file
QCOW2_INCOMPAT_DATA_FILE = 1 << 2
QCOW2_EXT_DATA_FILE = 0x44415441
QCOW2_EXT_END = 0


class FormatError(ValueError):
    """The file is not what it claims, or is a format that could read other files."""


def detect(path: Path) -> dict:
    """{"format": qcow2|vmdk|vhdx|vhd|vdi|iso|raw, "virtual_size": bytes} from the file's own headers."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024)
        if head[:4] == QCOW2_MAGIC:
            return _qcow2(head, size)
        if head[:4] == b"KDMV" or head[:21] == b"# Disk DescriptorFile":
            return {"format": "vmdk", "virtual_size": None}
        if head[:8] == b"vhdxfile":
            return {"format": "vhdx", "virtual_size": None}
        if head[64:68] == b"\x7f\x10\xda\xbe" or head[:4] == b"<<< ":
            return {"format": "vdi", "virtual_size": None}
        if size >= 512:
            fh.seek(size - 512)
            if fh.read(8) == b"conectix":
                return {"format": "vhd", "virtual_size": None}
        for offset in (0x8001, 0x8801, 0x9001):
            if size > offset + 5:
                fh.seek(offset)
                if fh.read(5) == b"CD001":
                    return {"format": "iso", "virtual_size": size}
    return {"format": "raw", "virtual_size": size}


def _qcow2(head: bytes, file_size: int) -> dict:
    if len(head) < 72:
        raise FormatError("the qcow2 header is truncated")
    version, backing_offset, backing_size = struct.unpack(">IQI", head[4:20])
    virtual_size = struct.unpack(">Q", head[24:32])[0]
    if version not in (2, 3):
        raise FormatError(f"unsupported qcow2 version {version}")
    if backing_offset or backing_size:
        raise FormatError("qcow2 images with a backing file are not accepted")
    header_length = 72
    if version == 3:
        if len(head) < 104:
            raise FormatError("the qcow2 v3 header is truncated")
        incompatible = struct.unpack(">Q", head[72:80])[0]
        if incompatible & QCOW2_INCOMPAT_DATA_FILE:
            raise FormatError("qcow2 images with an external data file are not accepted")
        header_length = struct.unpack(">I", head[100:104])[0]
    # header extensions follow the header; a data-file name extension is also refused
    pos = header_length
    while pos + 8 <= len(head):
        ext_type, ext_len = struct.unpack(">II", head[pos:pos + 8])
        if ext_type == QCOW2_EXT_END:
            break
        if ext_type == QCOW2_EXT_DATA_FILE:
            raise FormatError("qcow2 images with an external data file are not accepted")
        pos += 8 + ((ext_len + 7) & ~7)
    return {"format": "qcow2", "virtual_size": virtual_size}


# formats we can recognise; others (ami, ari, aki, ploop) are accepted as declared
RECOGNISED = {"qcow2", "vmdk", "vhdx", "vhd", "vdi", "iso", "raw"}


def check(path: Path, declared: str) -> dict:
    """Inspect `path` and insist it matches `declared`; returns the detection result."""
    found = detect(path)
    if declared in RECOGNISED and found["format"] != declared:
        # a raw disk may legitimately start with anything except another format's header;
        # an ISO is also a valid raw disk
        if not (declared == "raw" and found["format"] == "iso"):
            raise FormatError(f"the uploaded data is {found['format']}, but disk_format is {declared}")
    return found
