"""Hostile disk images for the attack tests: each names a canary file outside itself, or lies about its format."""
from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

# what the canary holds: it must appear in no stored image, volume or converted file
SECRET = b"EGRET-CANARY-fernet-key-0123456789abcdef"


def make_canary(path: Path) -> Path:
    """A 1 MiB file starting with SECRET, standing for a Fernet key, /etc/shadow or another project's volume."""
    path.write_bytes(SECRET + b"\0" * (1024 * 1024 - len(SECRET)))
    return path


def _qemu_img(*args) -> None:
    # a LUKS header's PBKDF is timed on the thread's CPU time, which a busy machine can leave unmeasured ("Unable
    # to get accurate CPU usage", seen in two CI-like runs): that attempt is made again, nothing else is
    for _ in range(10):
        done = subprocess.run(["qemu-img", *args], capture_output=True, text=True)
        if done.returncode == 0 or "accurate CPU usage" not in done.stderr:
            break
    assert done.returncode == 0, f"qemu-img {' '.join(args)}: {done.stderr or done.stdout}"


def flat_descriptor(extent: str, create_type: str = "monolithicFlat", kind: str = "FLAT") -> bytes:
    """The descriptor from issue 12: a text-only VMDK whose extent is another file."""
    return (f'# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="{create_type}"\n\n'
            f'RW 2048 {kind} "{extent}" 0\n').encode()


def _qemu_made(tmp: Path, name: str, *opts, size: str | None = "1M") -> bytes:
    out = tmp / name
    _qemu_img("create", "-q", *opts, str(out), *([size] if size else []))
    return out.read_bytes()


def build(kind: str, tmp: Path, canary: Path, stored_in: Path) -> tuple[str, bytes]:
    """(disk_format the attacker declares, the bytes uploaded) for one trick; each reaches `canary` if obeyed.
    stored_in: the directory the image will be kept in (a relative extent is resolved from there)."""
    rel = os.path.relpath(canary, stored_in)
    if kind == "vmdk-absolute-flat-extent":
        return "vmdk", flat_descriptor(str(canary))
    if kind == "vmdk-relative-extent":
        return "vmdk", flat_descriptor(rel)
    if kind == "vmdk-descriptor-only-sparse":
        # claims the one subformat that is accepted, but is only a descriptor: its extent is another file
        return "vmdk", flat_descriptor(str(canary), "monolithicSparse", "SPARSE")
    if kind == "vmdk-monolithicFlat-by-qemu-img":
        # real qemu-img output: the descriptor names <name>-flat.vmdk next to it; point it at the canary
        data = _qemu_made(tmp, "qflat.vmdk", "-f", "vmdk", "-o", "subformat=monolithicFlat")
        assert b'"qflat-flat.vmdk"' in data
        return "vmdk", data.replace(b'"qflat-flat.vmdk"', f'"{canary}"'.encode())
    if kind == "vmdk-twoGbMaxExtentSparse-by-qemu-img":
        return "vmdk", _qemu_made(tmp, "two.vmdk", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse")
    if kind == "qcow2-backing-file":
        return "qcow2", _qemu_made(tmp, "back.qcow2", "-f", "qcow2", "-b", str(canary), "-F", "raw", size=None)
    if kind == "qcow2-json-backing":
        spec = '{"driver":"raw","file":{"driver":"file","filename":"%s"}}' % canary
        return "qcow2", _qemu_made(tmp, "json.qcow2", "-u", "-f", "qcow2", "-b", "json:" + spec, "-F", "raw")
    if kind == "qcow2-external-data-file":
        ext = tmp / "ext-data.raw"
        data = _qemu_made(tmp, "df.qcow2", "-f", "qcow2", "-o", f"data_file={ext},data_file_raw=on")
        ext.write_bytes(canary.read_bytes())  # the guest view of this image is the canary's bytes
        return "qcow2", data
    if kind == "qcow2-uploaded-as-raw":
        return "raw", _qemu_made(tmp, "plain.qcow2", "-f", "qcow2")
    if kind == "raw-declared-as-qcow2":
        return "qcow2", canary.read_bytes()
    if kind == "gpt-hybrid-mbr-in-raw":
        return "raw", gpt_with_extra_mbr_partition(tmp)
    if kind == "luks-as-raw":
        # iter-time: 100 ms of PBKDF timing instead of 2 s (the header the attack relies on is the same)
        return "raw", _qemu_made(tmp, "enc.luks", "--object", "secret,id=s0,data=pass", "-f", "luks",
                                 "-o", "key-secret=s0,iter-time=100")
    if kind == "vhd-declared-vhdx":
        return "vhdx", _qemu_made(tmp, "d.vhd", "-f", "vpc")
    if kind == "vhdx-declared-vhd":
        return "vhd", _qemu_made(tmp, "d.vhdx", "-f", "vhdx")
    if kind == "vdi-declared-raw":
        return "raw", _qemu_made(tmp, "d.vdi", "-f", "vdi")
    if kind == "vhdx-declared-qcow2":
        return "qcow2", _qemu_made(tmp, "e.vhdx", "-f", "vhdx")
    raise ValueError(kind)


def gpt_with_extra_mbr_partition(tmp: Path) -> bytes:
    """A GPT disk (sfdisk) whose protective MBR also defines a second partition: the "hybrid MBR" trick that
    makes the disk mean different things to different readers."""
    disk = tmp / "gpt.raw"
    disk.write_bytes(b"\0" * (2 * 1024 * 1024))
    subprocess.run(["sfdisk", "-q", "--label", "gpt", str(disk)], input=b"start=2048, size=1024\n", check=True,
                   capture_output=True)
    data = bytearray(disk.read_bytes())
    assert data[446 + 4] == 0xEE  # sfdisk wrote a protective MBR
    entry = struct.pack("<B3BB3BII", 0x80, 0, 2, 0, 0x83, 0, 3, 0, 2048, 1024)
    data[446 + 16:446 + 32] = entry
    return bytes(data)


ATTACKS = {
    "vmdk-absolute-flat-extent": "vmdk images are accepted only",
    "vmdk-relative-extent": "vmdk images are accepted only",
    "vmdk-descriptor-only-sparse": "vmdk images are accepted only",
    "vmdk-monolithicFlat-by-qemu-img": "vmdk images are accepted only",
    "vmdk-twoGbMaxExtentSparse-by-qemu-img": "vmdk images are accepted only",
    "qcow2-backing-file": "backing file",
    "qcow2-json-backing": "backing file",
    "qcow2-external-data-file": "external data file",
    "qcow2-uploaded-as-raw": "the data is qcow2, but disk_format is raw",
    "raw-declared-as-qcow2": "the data is raw, but disk_format is qcow2",
    "gpt-hybrid-mbr-in-raw": "partition table",
    "luks-as-raw": "luks",
    "vhd-declared-vhdx": "the data is vhd, but disk_format is vhdx",
    "vhdx-declared-vhd": "the data is vhdx, but disk_format is vhd",
    "vdi-declared-raw": "the data is vdi, but disk_format is raw",
    "vhdx-declared-qcow2": "the data is vhdx, but disk_format is qcow2",
}


def leaked(root: Path) -> list[str]:
    """Files under root that hold the canary's bytes (a stored image, a volume, a converted temp file)."""
    hits = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if p.is_file() and not p.is_symlink() and SECRET in p.read_bytes():
                hits.append(str(p))
    return hits
