"""A guest's files on its node: qcow2 overlays on cached images, growing, snapshot copies, config-drive ISOs."""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from appliance import diskimage
from services.compute.drivers.specs import DriverError, UnsafeDisk


def qemu_img(args, readable=(), writable=(), new=None) -> str:
    """qemu-img in the bubblewrap sandbox (appliance.diskimage): it sees only these files, never the keys.
    `new`: an output file, made empty first (the sandbox binds it) and removed again if qemu-img fails."""
    if new is not None:
        Path(new).touch(mode=0o644)
    try:
        return diskimage.run_qemu_img(args, readable=readable, writable=writable)
    except diskimage.QemuImgError as exc:
        if new is not None:
            Path(new).unlink(missing_ok=True)
        raise DriverError(str(exc)[:400]) from None


def virtual_size(path, fmt) -> int:
    """The disk's size as a guest sees it; 0 if qemu-img cannot tell."""
    try:
        out = qemu_img(["info", "-U", "--output=json", "-f", fmt, str(path)], readable=[path])
        return int(json.loads(out)["virtual-size"])
    except (DriverError, ValueError, KeyError):
        return 0


def create_overlay(base: str, fmt: str, overlay: str, size_bytes: int = 0) -> None:
    """A qcow2 overlay on `base`, grown to size_bytes if that is larger than the image.

    The base is checked by oslo.utils' inspector first, before qemu (and so libvirt) opens anything through it."""
    try:
        diskimage.inspect(base, fmt)
    except diskimage.UnsafeImage as exc:
        raise UnsafeDisk(str(exc)) from None
    cmd = ["create", "-q", "-f", "qcow2", "-b", str(base), "-F", fmt, str(overlay)]
    if size_bytes > 0 and size_bytes > virtual_size(base, fmt):
        cmd.append(str(size_bytes))
    qemu_img(cmd, readable=[base], writable=[overlay], new=overlay)


def check_standalone(path: str) -> None:
    """A qcow2 that came from another node: the inspector's word before qemu opens it (UnsafeDisk if refused)."""
    try:
        diskimage.inspect(path, "qcow2")
    except diskimage.UnsafeImage as exc:
        raise UnsafeDisk(str(exc)) from None


def grow(path: str, size_gb: int, backing=()) -> None:
    """Grow a qcow2 disk (resize to a flavor with a bigger root disk); `backing`: the files under it."""
    qemu_img(["resize", "-q", "-f", "qcow2", str(path), f"{int(size_gb)}G"], readable=list(backing),
             writable=[path])


def copy_qcow2(path: str, dest: str, backing=()) -> None:
    """A standalone qcow2 copy of `path` and its backing chain (a snapshot's image), as qemu-img convert makes it."""
    qemu_img(["convert", "-U", "-f", "qcow2", "-O", "qcow2", str(path), str(dest)],
             readable=[path, *backing], writable=[dest], new=dest)


def _iso_tool() -> list[str]:
    for name in ("genisoimage", "mkisofs"):
        if shutil.which(name):
            return [name]
    if shutil.which("xorriso"):
        return ["xorriso", "-as", "mkisofs"]
    raise DriverError("config drives need genisoimage or xorriso (scripts/setup-debian.sh installs genisoimage)")


def write_iso(files: dict, dest: str, label: str) -> None:
    """An ISO9660/Joliet/Rock Ridge volume named `label` holding files {relative path: bytes or str}."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel, content in files.items():
            path = root / _inside(rel)
            if not isinstance(content, (str, bytes)):
                raise DriverError(f"Invalid files[{rel!r}]: text or bytes, not {type(content).__name__}.")
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                path.write_text(content)
            else:
                path.write_bytes(content)
        cmd = _iso_tool() + ["-o", str(dest), "-ldots", "-allow-lowercase", "-allow-multidot", "-l", "-V", label,
                             "-r", "-J", "-quiet", str(root)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            Path(dest).unlink(missing_ok=True)
            raise DriverError(f"config drive build failed: {proc.stderr.strip()[:300]}")


def _inside(rel) -> str:
    """A path inside the drive, as the caller names it: relative, with no '..' (a remote caller names them)."""
    parts = rel.split("/") if isinstance(rel, str) else []
    if not parts or rel.startswith("/") or "\0" in rel or any(p in ("", ".", "..") for p in parts):
        raise DriverError(f"Invalid files key {rel!r}: a relative path inside the drive, without '.' or '..'.")
    return rel
