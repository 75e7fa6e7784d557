"""Hostile disk images: oslo.utils' format inspector before any qemu-img, and qemu-img inside a bubblewrap sandbox."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from oslo_utils.imageutils import format_inspector as fi

# Glance disk_format -> (inspector names the data may show, the qemu-img driver name to open it with).
# A raw disk may hold a GPT/MBR partition table or be an ISO (the inspector checks their tables first);
# ami/ari/aki are raw under another name, as in Nova. ploop has no inspector: it is stored only when
# the data shows no other format's header, and never given to qemu-img.
ACCEPTED = {
    "raw": ({"raw", "gpt", "iso"}, "raw"),
    "ami": ({"raw", "gpt"}, "raw"),
    "ari": ({"raw", "gpt"}, "raw"),
    "aki": ({"raw", "gpt"}, "raw"),
    "iso": ({"iso"}, "raw"),
    "qcow2": ({"qcow2"}, "qcow2"),
    "vmdk": ({"vmdk"}, "vmdk"),
    "vdi": ({"vdi"}, "vdi"),
    "vhd": ({"vhd"}, "vpc"),
    "vhdx": ({"vhdx"}, "vhdx"),
    "ploop": ({"raw"}, None),
}
# a safety check's name in oslo.utils -> why, as an API user reads it
REASONS = {
    "backing_file": "qcow2 images with a backing file are not accepted",
    "data_file": "qcow2 images with an external data file are not accepted",
    "unknown_features": "the qcow2 image uses unknown or unsupported features",
    "descriptor": "VMDK images are accepted only as monolithicSparse or streamOptimized with every extent "
                  "inside the file itself (no FLAT/SPARSE extents naming other files)",
    "footer": "the VMDK footer is malformed",
    "mbr": "the partition table (MBR/GPT) is malformed",
    "version": "the LUKS header version is unsupported",
    "passphrase": "LUKS-encrypted images are not accepted",
}


# a kernel (bzImage) or an initrd is no disk: the boot-sector signature a bzImage keeps at byte 510 makes it look
# like an MBR, but its "partition entries" are setup code, and with -f raw qemu-img reads it as plain bytes
BLOBS = {"aki", "ari"}


class UnsafeImage(ValueError):
    """The data is not what disk_format says, or could make qemu-img read or write other files."""


@dataclass(frozen=True)
class Inspection:
    detected: str           # what the inspector found: raw, gpt, iso, qcow2, vmdk, ...
    qemu_format: str | None  # what to pass as qemu-img -f (None: never to be given to qemu-img)
    virtual_size: int       # bytes as a guest sees the disk


def inspect(path, declared_format: str) -> Inspection:
    """Detect what `path` really is, run the inspector's safety checks, and insist it matches declared_format."""
    if declared_format not in ACCEPTED:
        raise UnsafeImage(f"disk_format {declared_format!r} is not one this cloud can inspect")
    allowed, qemu_format = ACCEPTED[declared_format]
    path = Path(path)
    found = _detect(path)
    name = found.NAME
    if name == "luks":
        raise UnsafeImage("LUKS-encrypted images are not accepted")
    if name not in allowed:
        if name == "raw" and _starts_with_magic(path, declared_format):
            raise UnsafeImage(f"the {declared_format} image is truncated (its header is incomplete)")
        raise UnsafeImage(f"the data is {name}, but disk_format is {declared_format}")
    try:
        if not (name == "gpt" and declared_format in BLOBS):
            found.safety_check()
    except fi.SafetyCheckFailed as exc:
        raise UnsafeImage("; ".join(_reason(check, failure) for check, failure in exc.failures.items())) from None
    except fi.ImageFormatError as exc:
        raise UnsafeImage(f"the {name} image is truncated or malformed ({exc})") from None
    if name in ("raw", "gpt", "iso"):
        size = path.stat().st_size
    else:
        size = int(found.virtual_size or 0)
        if size <= 0:
            raise UnsafeImage(f"the {name} image is truncated or its virtual size is unreadable")
    return Inspection(detected=name, qemu_format=qemu_format, virtual_size=size)


def _detect(path: Path):
    """The one inspector whose format the data shows (detect_file_format, except that a hybrid ISO, which is
    both an ISO and a GPT disk, counts as an ISO as in Glance); several formats at once are refused."""
    with open(path, "rb") as fh:
        wrapper = fi.InspectWrapper(fh)
        try:
            while wrapper.read(64 * 1024):
                if wrapper.formats is not None:
                    break
        except fi.ImageFormatError as exc:
            raise UnsafeImage(f"the data is malformed ({exc})") from None
        finally:
            wrapper.close()
        matches = wrapper.formats or []
    names = sorted(i.NAME for i in matches)
    if names == ["gpt", "iso"]:
        return next(i for i in matches if i.NAME == "iso")
    if len(matches) != 1:
        # one header hidden in another: each reader would see a different disk
        raise UnsafeImage(f"the data matches several formats at once ({', '.join(names) or 'none'})")
    return matches[0]


MAGIC = {"qcow2": b"QFI\xfb", "vmdk": b"KDMV", "vhdx": b"vhdxfile"}


def _starts_with_magic(path: Path, declared_format: str) -> bool:
    magic = MAGIC.get(declared_format)
    with open(path, "rb") as fh:
        return magic is not None and fh.read(len(magic)) == magic


def _reason(check: str, failure: Exception) -> str:
    base = check.removeprefix("inner_")
    return REASONS.get(base, f"safety check {base} failed") + f" ({failure})"


# --- the sandbox ------------------------------------------------------------------------------------------------
class QemuImgError(RuntimeError):
    """qemu-img (or its sandbox) failed; the message carries its stderr."""


# what qemu-img needs from the host, read-only: programs, libraries, qemu's block modules, the linker cache.
# /nix/store is where a NixOS box keeps them; nothing secret lives in any of these.
SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc/ld.so.cache",
                "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/nix/store")
NEEDS_FORMAT = {"info", "check", "convert", "resize", "dd", "map", "measure", "compare", "snapshot", "amend"}


def bwrap_command(argv: list[str], readable=(), writable=()) -> list[str]:
    """The bubblewrap command line that runs argv seeing only the system paths, `readable` and `writable`."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise QemuImgError("bubblewrap (bwrap) is not installed; qemu-img only runs sandboxed")
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
           "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8"]
    if os.geteuid() == 0:
        # as root bwrap keeps root's capabilities inside unless told: qemu-img needs none
        cmd += ["--cap-drop", "ALL"]
    for p in SYSTEM_PATHS:
        if os.path.islink(p):
            cmd += ["--symlink", os.readlink(p), p]
        elif os.path.exists(p):
            cmd += ["--ro-bind", p, p]
    # a fresh /dev (null, zero, urandom...) and an empty private /tmp. No /proc: qemu-img does not need it, and
    # a hardened unit (ProtectKernelTunables=, ProtectProc=) hides parts of its /proc, so the kernel refuses a
    # new proc mount in a user namespace there
    cmd += ["--dev", "/dev", "--tmpfs", "/tmp"]
    for p in readable:
        real = os.path.realpath(p)
        if not os.path.exists(real):
            raise QemuImgError(f"{p} does not exist")
        cmd += ["--ro-bind", real, str(p)]
    for p in writable:
        real = os.path.realpath(p)
        if not os.path.exists(real):
            raise QemuImgError(f"{p} must exist before it is handed to the sandbox")
        kind = "--dev-bind" if stat.S_ISBLK(os.stat(real).st_mode) else "--bind"
        cmd += [kind, real, str(p)]
    return cmd + ["--chdir", "/", "--", *argv]


def run_qemu_img(args: list[str], readable=(), writable=(), timeout: float = 3600) -> str:
    """Run `qemu-img args...` where it sees only the given files; returns stdout, raises QemuImgError."""
    args = [str(a) for a in args]
    if args and args[0] in NEEDS_FORMAT and "-f" not in args:
        # never let qemu-img probe: the format comes from inspect()
        raise ValueError(f"qemu-img {args[0]} needs an explicit -f")
    if args and args[0] == "create" and "-b" in args and "-F" not in args:
        raise ValueError("qemu-img create -b needs an explicit -F")
    exe = shutil.which("qemu-img")
    if exe is None:
        raise QemuImgError("qemu-img is not installed")
    cmd = bwrap_command([os.path.realpath(exe), *args], readable, writable)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise QemuImgError(f"qemu-img {args[0]} timed out after {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise QemuImgError(f"qemu-img {args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout
