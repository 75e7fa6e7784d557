"""A/B root slots: `egret update apply` writes the inactive slot and a counted boot entry; mark-good blesses it.

The ESP holds one systemd-boot Type #1 entry per slot, `egret-<N>-<slot>[+<tries>].conf`. systemd-boot
boots the entry with the highest N and decrements the counter in its file name on every try; an entry at
+0 sorts last, so the previous slot's entry (kept, uncounted) boots by itself when the new slot never
reaches a healthy state. `egret update health` (a unit ordered before boot-complete.target) drops the
counter once every service is healthy, and reboots when they are not.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from appliance.image import gpt, signing
from appliance.image.progress import Progress, copy_into, sha256_file

ENTRY_RE = re.compile(r"^egret-(?P<n>\d+)-(?P<slot>[ab])(?:\+(?P<left>\d+)(?:-(?P<done>\d+))?)?\.conf$")
LOADER_GUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
MANIFEST = "egret-update.json"
SUMS = "SHA256SUMS"
SIG = "SHA256SUMS.sig"


# a slot's folder on the ESP (EFI/egret/<slot>/) holds its kernel and initrd under these names, the PREEMPT_RT
# pair beside the generic one when the image carries it; the entry's `linux`/`initrd` lines pick one
KERNEL_FILES = {"generic": ("vmlinuz", "initrd.img"), "rt": ("vmlinuz-rt", "initrd-rt.img")}


class UpdateError(RuntimeError):
    """The update was refused before anything was written, or writing it failed."""


@dataclass(frozen=True)
class Entry:
    path: Path
    n: int
    slot: str
    tries_left: int | None  # None: not counted (blessed or factory)

    @property
    def id(self) -> str:
        return f"egret-{self.n}-{self.slot}"


def entries(esp: Path) -> list[Entry]:
    found = []
    folder = esp / "loader" / "entries"
    if folder.is_dir():
        for path in folder.iterdir():
            m = ENTRY_RE.match(path.name)
            if m:
                found.append(Entry(path, int(m["n"]), m["slot"], int(m["left"]) if m["left"] is not None else None))
    return sorted(found, key=lambda e: e.n)


def boot_order(esp: Path) -> list[Entry]:
    """What systemd-boot tries first: entries with tries left before exhausted ones, then highest N."""
    return sorted(entries(esp), key=lambda e: (e.tries_left == 0, -e.n))


def other(slot: str) -> str:
    return {"a": "b", "b": "a"}[slot]


def slot_from_cmdline(cmdline: str | None = None) -> str:
    cmdline = cmdline if cmdline is not None else Path("/proc/cmdline").read_text()
    for word in cmdline.split():
        if word.startswith("egret.slot="):
            return word.split("=", 1)[1]
    raise UpdateError("kernel command line has no egret.slot=; not booted from an Egret A/B image")


def slot_partition(disk: str, slot: str) -> gpt.Partition:
    parts = gpt.partitions(disk)
    for p in parts:
        if p.name == f"root-{slot}":
            return p
    if slot == "b":
        for p in parts:
            if p.name == "_empty":
                return p
    raise UpdateError(f"{disk}: no partition for slot {slot} (root-{slot} or _empty)")


# ---------------------------------------------------------------- sources: bundle tar or raw disk image

@dataclass
class Source:
    version: str
    root_size: int
    root_sha256: str
    open_root: object  # () -> (stream, closer)
    kernel: Path
    initrd: Path
    cmdline_extra: str
    workdir: tempfile.TemporaryDirectory
    signer: str = ""
    rt: bool = False        # the workdir also holds the PREEMPT_RT kernel and its initrd (kernel_rt, initrd_rt)


def _verify_bundle(path: str, keys: list) -> dict:
    """Check SHA256SUMS's signature, then every member against it, before anything is written; the manifest."""
    try:
        tar = tarfile.open(path, "r:")
    except (tarfile.TarError, OSError) as exc:
        raise UpdateError(f"{path}: not an update bundle ({exc})") from exc
    with tar:
        names = {m.name: m for m in tar.getmembers() if m.isfile()}
        if SUMS not in names or MANIFEST not in names:
            raise UpdateError(f"{path}: bundle lacks {SUMS} or {MANIFEST}")
        sums_bytes = tar.extractfile(names[SUMS]).read()
        sig = tar.extractfile(names[SIG]).read() if SIG in names else None
        try:
            signer = signing.verify(sums_bytes, sig, keys, f"{path}: bundle")
        except signing.SignatureError as exc:
            raise UpdateError(f"{exc}; nothing written") from exc
        sums = {}
        for line in sums_bytes.decode().splitlines():
            if line.strip():
                digest, name = line.split(None, 1)
                sums[name.lstrip("*")] = digest.lower()
        for name, member in names.items():
            if name in (SUMS, SIG):
                continue
            if name not in sums:
                raise UpdateError(f"{path}: {name} is not listed in {SUMS}")
            h = hashlib.sha256()
            fh = tar.extractfile(member)
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
            if h.hexdigest() != sums[name]:
                raise UpdateError(f"{path}: checksum mismatch for {name}; nothing written")
        missing = set(sums) - set(names)
        if missing:
            raise UpdateError(f"{path}: {SUMS} lists missing files: {', '.join(sorted(missing))}")
        manifest = json.loads(tar.extractfile(names[MANIFEST]).read())
        manifest["_sums"], manifest["_signer"] = sums, signer
    for key in ("version", "root", "kernel", "initrd"):
        if key not in manifest:
            raise UpdateError(f"{path}: {MANIFEST} lacks {key!r}")
    return manifest


def open_bundle(path: str, keys: list) -> Source:
    manifest = _verify_bundle(path, keys)
    work = tempfile.TemporaryDirectory(prefix="egret-update-")
    # the PREEMPT_RT pair is optional (bundles of images without it); both or neither
    rt = "kernel_rt" in manifest and "initrd_rt" in manifest
    with tarfile.open(path, "r:") as tar:
        for key in ("kernel", "initrd") + (("kernel_rt", "initrd_rt") if rt else ()):
            member = tar.getmember(manifest[key])
            with tar.extractfile(member) as src, open(Path(work.name) / key, "wb") as dst:
                shutil.copyfileobj(src, dst)
            # the copies are what gets installed: check them too, so a bundle swapped after the check is refused
            if sha256_file(Path(work.name) / key) != manifest["_sums"].get(manifest[key]):
                work.cleanup()
                raise UpdateError(f"{path}: {manifest[key]} changed while reading the bundle; nothing written")
    root = manifest["root"]

    def open_root():
        tar = tarfile.open(path, "r:")
        raw = tar.extractfile(tar.getmember(root["file"]))
        if root["file"].endswith(".zst"):
            proc = subprocess.Popen(["zstd", "-dc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            def feed():
                try:
                    shutil.copyfileobj(raw, proc.stdin, 1 << 20)
                finally:
                    proc.stdin.close()
            t = threading.Thread(target=feed, daemon=True)
            t.start()

            def close():
                t.join()
                if proc.wait() != 0:
                    raise UpdateError("zstd failed while decompressing the root image")
                tar.close()
            return proc.stdout, close
        return raw, tar.close

    return Source(version=manifest["version"], root_size=int(root["size"]), root_sha256=root["sha256"].lower(),
                  open_root=open_root, kernel=Path(work.name) / "kernel", initrd=Path(work.name) / "initrd",
                  cmdline_extra=manifest.get("cmdline", ""), workdir=work, signer=manifest["_signer"], rt=rt)


def open_disk_image(path: str, keys: list) -> Source:
    """A full disk image from `make image` (with its signed .sha256): slot a's root and kernel are the update."""
    sidecar = Path(path + ".sha256")
    if not sidecar.exists():
        raise UpdateError(f"{path}: a disk image needs its checksum file {sidecar.name} next to it")
    sums = sidecar.read_bytes()
    sig_path = Path(path + ".sha256.sig")
    try:
        signer = signing.verify(sums, sig_path.read_bytes() if sig_path.exists() else None, keys, f"{path}: image")
    except signing.SignatureError as exc:
        raise UpdateError(f"{exc}; nothing written") from exc
    expected = sums.decode().split()[0].lower()
    if sha256_file(path) != expected:
        raise UpdateError(f"{path}: sha256 does not match {sidecar.name}; nothing written")
    root = gpt.by_name(path, "root-a")
    esp = gpt.by_name(path, "esp")
    work = tempfile.TemporaryDirectory(prefix="egret-update-")
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    def copy_out(member: str, name: str) -> bool:
        return subprocess.run(["mcopy", "-n", "-i", f"{path}@@{esp.start}", f"::/EFI/egret/a/{member}",
                               str(Path(work.name) / name)], env=env, capture_output=True).returncode == 0
    for name, member in (("kernel", "vmlinuz"), ("initrd", "initrd.img")):
        if not copy_out(member, name):
            work.cleanup()
            raise UpdateError(f"{path}: its ESP has no EFI/egret/a/{member}; nothing written")
    rt = copy_out("vmlinuz-rt", "kernel_rt") and copy_out("initrd-rt.img", "initrd_rt")
    info = {}
    try:
        out = subprocess.run(["mtype", "-i", f"{path}@@{esp.start}", "::/EFI/egret/release.json"], env=env,
                             capture_output=True, text=True, check=True).stdout
        info = json.loads(out)
    except (subprocess.CalledProcessError, ValueError):
        pass

    def open_root():
        fh = open(path, "rb")
        fh.seek(root.start)

        class Limited:
            left = root.size

            def read(self, n):
                block = fh.read(min(n, self.left))
                self.left -= len(block)
                return block
        return Limited(), fh.close

    return Source(version=info.get("version", "unknown"), root_size=root.size,
                  root_sha256=sha256_file(path, size=root.size, offset=root.start), open_root=open_root,
                  kernel=Path(work.name) / "kernel", initrd=Path(work.name) / "initrd", cmdline_extra="",
                  workdir=work, signer=signer, rt=rt)


def open_source(path: str, keys: list | None = None) -> Source:
    """keys: trusted Ed25519 public keys (default: the ones baked into this image)."""
    if not os.path.isfile(path):
        raise UpdateError(f"{path}: no such file")
    keys = signing.trusted_keys() if keys is None else keys
    if tarfile.is_tarfile(path):
        return open_bundle(path, keys)
    return open_disk_image(path, keys)


# ---------------------------------------------------------------- apply, bless

def entry_text(version: str, slot: str, partuuid: str, console: str, extra: str = "", kernel: str = "generic") -> str:
    options = f"root=PARTUUID={partuuid} rw console={console},115200 egret.slot={slot} {extra}".strip()
    linux, initrd = KERNEL_FILES[kernel]
    return (f"title Egret {version} (slot {slot})\nversion {version}\n"
            f"linux /EFI/egret/{slot}/{linux}\ninitrd /EFI/egret/{slot}/{initrd}\noptions {options}\n")


def entry_kernel(text: str) -> str:
    """Which of the slot's kernels an entry boots ("generic" or "rt")."""
    for line in text.splitlines():
        if line.startswith("linux "):
            name = line.split()[1].rsplit("/", 1)[-1]
            return next((k for k, (linux, _) in KERNEL_FILES.items() if linux == name), "generic")
    return "generic"


def with_kernel(text: str, kernel: str) -> str:
    """An entry's text booting the slot's `kernel` ("generic" or "rt") instead of the one it named."""
    out = []
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key in ("linux", "initrd"):
            folder = value.strip().rsplit("/", 1)[0]
            line = f"{key} {folder}/{KERNEL_FILES[kernel][0 if key == 'linux' else 1]}"
        out.append(line)
    return "\n".join(out) + "\n"


# The box's own kernel arguments (the real-time profile's: appliance/realtime.kernel_args) are a second `options`
# line after this comment; the boot loader joins the `options` lines of an entry
PROFILE_MARK = "# egret: the box's profile (egret realtime apply)"


def with_profile_args(text: str, args: list[str]) -> str:
    """An entry's text with `args` as its profile line (replacing the one it had; none: no profile line)."""
    out, lines = [], iter(text.splitlines())
    for line in lines:
        if line == PROFILE_MARK:
            next(lines, None)       # and the options line it marks
            continue
        out.append(line)
    if args:
        out += [PROFILE_MARK, "options " + " ".join(args)]
    return "\n".join(out) + "\n"


def profile_args(text: str) -> list[str]:
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line == PROFILE_MARK and lines[i + 1].startswith("options "):
            return lines[i + 1].split()[1:]
    return []


def _fsync_replace(tmp: Path, path: Path) -> None:
    """tmp, written, on disk before it takes path's place (a power cut leaves the old file or the new one)."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    _fsync_replace(tmp, path)


def has_rt_kernel(esp: Path, slot: str) -> bool:
    return all((esp / "EFI" / "egret" / slot / name).is_file() for name in KERNEL_FILES["rt"])


def set_profile(esp: Path, args: list[str], rt: bool) -> tuple[list[str], list[str]]:
    """Every Egret boot entry carries `args` as the box's profile line and boots the PREEMPT_RT kernel when `rt`
    (and its slot has one). Returns the entries that changed and those that want an RT kernel their slot lacks."""
    changed, lacking = [], []
    for e in entries(esp):
        text = e.path.read_text()
        kernel = "rt" if rt and has_rt_kernel(esp, e.slot) else "generic"
        if rt and kernel != "rt":
            lacking.append(e.path.name)
        new = with_profile_args(with_kernel(text, kernel), args)
        if new != text:
            _fsync_write(e.path, new)
            changed.append(e.path.name)
    return changed, lacking


def _fsync_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".new")
    shutil.copyfile(src, tmp)
    _fsync_replace(tmp, dst)


def apply(source_path: str, *, disk: str, esp: Path, current: str, tries: int = 3, console: str = "ttyS0",
          progress: bool = True, stderr=None, keys: list | None = None) -> dict:
    """Verify, write the inactive slot, verify it, install its kernel and a counted entry. Returns a summary."""
    stderr = stderr or sys.stderr
    if tries < 1:
        raise UpdateError("tries must be at least 1")
    src = open_source(source_path, keys)
    try:
        target = other(current)
        part = slot_partition(disk, target)
        if src.root_size > part.size:
            raise UpdateError(f"root image ({src.root_size} bytes) is larger than slot {target} ({part.size} bytes)")
        stream, close = src.open_root()
        bar = Progress(src.root_size, f"slot {target}", stderr, progress)
        try:
            written, digest = copy_into(stream, disk, part.start, part.size, bar)
        finally:
            close()
            bar.close()
        if written != src.root_size or digest != src.root_sha256:
            raise UpdateError(f"slot {target}: wrote {written} bytes with sha256 {digest}, expected "
                              f"{src.root_size} bytes with {src.root_sha256}; the current slot is untouched")
        readback = sha256_file(disk, size=written, offset=part.start)
        if readback != digest:
            raise UpdateError(f"slot {target}: read-back sha256 {readback} differs; the current slot is untouched")
        folder = esp / "EFI" / "egret" / target
        _fsync_copy(src.kernel, folder / KERNEL_FILES["generic"][0])
        _fsync_copy(src.initrd, folder / KERNEL_FILES["generic"][1])
        for name, staged in zip(KERNEL_FILES["rt"], ("kernel_rt", "initrd_rt")):
            if src.rt:
                _fsync_copy(Path(src.workdir.name) / staged, folder / name)
            else:       # an older RT kernel left there would not match the new root's modules
                (folder / name).unlink(missing_ok=True)
        existing = entries(esp)
        # the box's profile (the kernel and arguments of the slot running now) goes on with the new slot
        running = next((e for e in existing if e.slot == current), None)
        carried = profile_args(running.path.read_text()) if running else []
        kernel = "rt" if running and entry_kernel(running.path.read_text()) == "rt" and src.rt else "generic"
        for e in existing:
            if e.slot == target:
                e.path.unlink()
        n = max((e.n for e in existing), default=0) + 1
        entry = esp / "loader" / "entries" / f"egret-{n}-{target}+{tries}.conf"
        entry.parent.mkdir(parents=True, exist_ok=True)
        _fsync_write(entry, with_profile_args(entry_text(src.version, target, part.uuid, console, src.cmdline_extra,
                                                         kernel), carried))
        if part.name != f"root-{target}":
            gpt.set_name(disk, part.number, f"root-{target}")
        return {"slot": target, "entry": entry.name, "version": src.version, "bytes": written, "sha256": digest,
                "tries": tries, "signed_by": src.signer, "kernel": kernel}
    finally:
        src.workdir.cleanup()


def _efivar(efivars: Path, name: str) -> str | None:
    path = efivars / f"{name}-{LOADER_GUID}"
    try:
        raw = path.read_bytes()[4:]  # 4 bytes of attributes, then UTF-16LE
    except OSError:
        return None
    return raw.decode("utf-16-le").rstrip("\0")


def mark_good(esp: Path, efivars: Path = Path("/sys/firmware/efi/efivars")) -> str | None:
    """Drop the boot counter of the entry we booted from; returns the new file name (None: nothing counted)."""
    counted = _efivar(efivars, "LoaderBootCountPath")
    candidates = []
    if counted:
        candidates.append(esp / counted.replace("\\", "/").lstrip("/"))
    selected = _efivar(efivars, "LoaderEntrySelected")
    if selected:
        candidates += [e.path for e in entries(esp) if e.id == selected.removesuffix(".conf")
                       and e.tries_left is not None]
    for path in candidates:
        m = ENTRY_RE.match(path.name)
        if path.exists() and m and m["left"] is not None:
            blessed = path.with_name(f"egret-{m['n']}-{m['slot']}.conf")
            os.replace(path, blessed)
            fd = os.open(blessed.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            return blessed.name
    return None
