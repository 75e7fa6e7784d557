"""`egret image write`: flash an image to a disk with a progress bar, refusing disks in use, verifying after."""
from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from appliance.image.progress import CHUNK, Progress, copy_into, sha256_file

SYSTEM_MOUNTPOINTS = ("/", "/boot", "/boot/efi", "/efi", "/usr", "/var")


class RefusedError(RuntimeError):
    """The target is in use or is the system disk, and the caller did not force it."""


@dataclass
class DeviceUse:
    mounts: list = field(default_factory=list)  # (device node name, mountpoint)
    system: list = field(default_factory=list)  # mountpoints of the running system on it
    other: list = field(default_factory=list)  # swap, holders (LVM/dm), loop backing

    @property
    def in_use(self) -> bool:
        return bool(self.mounts or self.system or self.other)

    def describe(self) -> str:
        parts = []
        if self.system:
            parts.append("it holds the running system (" + ", ".join(self.system) + ")")
        if self.mounts:
            parts.append("mounted: " + ", ".join(f"{d} on {m}" for d, m in self.mounts))
        parts += self.other
        return "; ".join(parts)


def _unescape(path: str) -> str:
    return path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def _block_family(dev: str, sys_root: Path) -> dict[str, str]:
    """{"MAJ:MIN": name} for a whole disk and its partitions."""
    st = os.stat(dev)
    majmin = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    node = (sys_root / "dev/block" / majmin).resolve()
    # a partition's parent directory is the whole disk; use the disk so siblings count too
    if (node / "partition").exists():
        node = node.parent
    family = {}
    for path in [node, *node.iterdir()]:
        dev_file = path / "dev"
        if path.is_dir() and dev_file.exists():
            family[dev_file.read_text().strip()] = path.name
    return family


def device_use(target: str, *, mountinfo: str | None = None, swaps: str | None = None,
               sys_root: Path = Path("/sys")) -> DeviceUse:
    """What on this machine uses `target` (a block device, or a regular image file)."""
    use = DeviceUse()
    mountinfo = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text()
    st = os.stat(target)
    if stat.S_ISREG(st.st_mode):
        real = os.path.realpath(target)
        for loop in sorted(sys_root.glob("block/loop*/loop/backing_file")):
            if loop.read_text().strip() == real:
                use.other.append(f"attached to /dev/{loop.parent.parent.name}")
        return use
    if not stat.S_ISBLK(st.st_mode):
        raise ValueError(f"{target}: neither a block device nor a regular file")
    family = _block_family(target, sys_root)
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[2] not in family:
            continue
        mountpoint = _unescape(fields[4])
        use.mounts.append((family[fields[2]], mountpoint))
        if mountpoint in SYSTEM_MOUNTPOINTS:
            use.system.append(mountpoint)
    swaps = swaps if swaps is not None else (Path("/proc/swaps").read_text() if Path("/proc/swaps").exists() else "")
    names = set(family.values())
    for line in swaps.splitlines()[1:]:
        if line.split() and os.path.basename(line.split()[0]) in names:
            use.other.append(f"swap on {line.split()[0]}")
    for name in sorted(names):
        holders = sys_root / "class/block" / name / "holders"
        if holders.is_dir() and any(holders.iterdir()):
            use.other.append(f"{name} is held by " + ", ".join(sorted(p.name for p in holders.iterdir())))
    return use


def target_size(target: str) -> int:
    with open(target, "rb") as fh:
        return fh.seek(0, os.SEEK_END)


def confirm_force(target: str, use: DeviceUse, stdin=None, stderr=None) -> None:
    """--force needs the device name typed back; anything else aborts."""
    stdin, stderr = stdin or sys.stdin, stderr or sys.stderr
    stderr.write(f"WARNING: {target}: {use.describe()}.\nWriting destroys everything on it. "
                 f"Type the device path ({target}) to continue: ")
    stderr.flush()
    answer = stdin.readline().strip()
    if answer != target:
        raise RefusedError(f"{target}: confirmation did not match; nothing written")


def write_image(image: str, target: str, *, force: bool = False, verify: bool = True, progress: bool = True,
                stdin=None, stderr=None, use: DeviceUse | None = None) -> dict:
    """Flash `image` onto `target`; returns {"bytes", "sha256", "verified"}. Raises RefusedError or IOError."""
    stderr = stderr or sys.stderr
    if not os.path.isfile(image):
        raise FileNotFoundError(f"{image}: no such image file")
    if os.path.realpath(image) == os.path.realpath(target):
        raise RefusedError("image and target are the same file")
    size = os.path.getsize(image)
    sidecar = Path(image + ".sha256")
    expected = None
    if sidecar.exists():
        expected = sidecar.read_text().split()[0].lower()
        got = sha256_file(image, progress=Progress(size, "checking", stderr, progress))
        if progress:
            stderr.write("\n")
        if got != expected:
            raise IOError(f"{image}: sha256 {got} does not match {sidecar} ({expected}); nothing written")
    use = use if use is not None else device_use(target)
    if use.in_use:
        if not force:
            raise RefusedError(f"{target}: {use.describe()}. Refusing to write (use --force to override).")
        confirm_force(target, use, stdin, stderr)
    capacity = target_size(target)
    is_file = stat.S_ISREG(os.stat(target).st_mode)
    if capacity < size and not is_file:
        raise RefusedError(f"{target}: {capacity} bytes, smaller than the {size}-byte image")
    bar = Progress(size, "writing ", stderr, progress)
    with open(image, "rb", buffering=CHUNK) as src:
        written, digest = copy_into(src, target, 0, max(size, capacity) if is_file else capacity, bar)
    bar.close()
    if expected and digest != expected:
        raise IOError(f"{image} changed while it was written (sha256 {digest}, expected {expected})")
    result = {"bytes": written, "sha256": digest, "verified": False}
    if verify:
        _drop_caches(target)
        check = sha256_file(target, size=size, progress=Progress(size, "verifying", stderr, progress))
        if progress:
            stderr.write("\n")
        if check != digest:
            raise IOError(f"{target}: read-back sha256 {check} differs from the written {digest}")
        result["verified"] = True
    return result


def _drop_caches(target: str) -> None:
    """Make the read-back come from the device, not the page cache."""
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass
    finally:
        os.close(fd)
