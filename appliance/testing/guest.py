"""The tiny test guest: a Debian kernel + busybox initramfs that prints markers, DHCPs and reads metadata.

Built from Debian packages (linux-image, busybox-static) and cached under /var/cache/egret-test keyed by a
hash of the recipe. It is booted like Nova's AMI images: a kernel image, a ramdisk image and a tiny
qcow2 root disk whose properties `kernel_id`, `ramdisk_id` and `os_command_line` name the other two.

Console protocol (ttyS0): EGRET-GUEST-BOOTED, EGRET-LEASE ip=..., EGRET-METADATA-BEGIN/END (meta_data.json),
EGRET-USERDATA-BEGIN/END, EGRET-CONFIGDRIVE-BEGIN/END, EGRET-DISKS <names> (printed again on every change),
EGRET-GUEST-READY. User-data starting with `#!` then runs in the background (as cloud-init runs it), its output
on the console. It serves "egret-guest-ok" over HTTP on port 80 for reachability tests.
"""
from __future__ import annotations

import glob
import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("EGRET_TEST_CACHE", "/var/cache/egret-test"))
KERNEL_PACKAGE = "linux-image-6.1.0-56-amd64"
BUSYBOX = "/bin/busybox"
CMDLINE = "console=ttyS0 panic=-1 quiet"
BOOT_MARKER = "EGRET-GUEST-BOOTED"
READY_MARKER = "EGRET-GUEST-READY"

# load order matters (reference build-machines.md §2)
MODULES = ["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
           "failover", "net_failover", "virtio_net", "virtio_blk",
           "scsi_common", "scsi_mod", "libata", "libahci", "ahci", "cdrom", "sr_mod", "isofs"]

# busybox 1.35's `wget -T` segfaults (static build), so timeouts use the timeout applet
INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "EGRET-GUEST-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime)"
for m in __MODULES__; do insmod /mods/$m.ko 2>/dev/null; done
for n in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ -e /sys/class/net/eth0 ] && break; sleep 0.25; done
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up
  # a loaded TCG host can take a while to answer the first DISCOVERs: retry for up to a minute
  udhcpc -i eth0 -n -q -t 20 -T 3 -O staticroutes -s /bin/egret-udhcpc 2>/dev/null || echo "EGRET-NO-LEASE"
  ok=""
  for i in 1 2 3 4 5 6 7 8 9 10; do
    timeout 5 wget -q -O /tmp/md http://169.254.169.254/openstack/latest/meta_data.json 2>/dev/null && ok=1 && break
    sleep 1
  done
  echo "EGRET-ROUTES $(ip route | tr '\n' ';')"
  if [ -n "$ok" ]; then
    echo "EGRET-METADATA-BEGIN"; cat /tmp/md; echo; echo "EGRET-METADATA-END"
    if timeout 5 wget -q -O /tmp/ud http://169.254.169.254/openstack/latest/user_data 2>/dev/null; then
      echo "EGRET-USERDATA-BEGIN"; cat /tmp/ud; echo; echo "EGRET-USERDATA-END"
    fi
  else
    echo "EGRET-NO-METADATA $(timeout 5 wget -O /dev/null http://169.254.169.254/openstack/latest/meta_data.json 2>&1 | tail -1)"
  fi
fi
sleep 1
if [ -e /dev/sr0 ]; then
  mkdir -p /mnt/cd && mount -t iso9660 -o ro /dev/sr0 /mnt/cd 2>/dev/null && {
    echo "EGRET-CONFIGDRIVE-BEGIN label=$(cat /mnt/cd/.label 2>/dev/null)"
    cat /mnt/cd/openstack/latest/meta_data.json; echo; echo "EGRET-CONFIGDRIVE-END"; }
fi
mkdir -p /www && echo egret-guest-ok > /www/index.html && httpd -p 80 -h /www
last=""
echo "EGRET-GUEST-READY"
# user-data starting with #! is a script, run once in the background as cloud-init would, its output on the console
if [ -s /tmp/ud ] && [ "$(head -c 2 /tmp/ud)" = "#!" ]; then
  cp /tmp/ud /tmp/user-script && chmod +x /tmp/user-script && /tmp/user-script 2>&1 &
fi
while true; do
  d=$(ls /sys/block | grep -v -e '^loop' -e '^ram' | tr '\n' ' ')
  [ "$d" != "$last" ] && echo "EGRET-DISKS $d"
  last="$d"
  sleep 1
done
"""

UDHCPC_HOOK = r"""#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev $interface
    ip addr add $ip/${mask:-24} dev $interface
    [ -n "$router" ] && ip route add default via ${router%% *} dev $interface 2>/dev/null
    set -- $staticroutes
    while [ $# -ge 2 ]; do ip route add $1 via $2 dev $interface 2>/dev/null; shift 2; done
    echo "EGRET-LEASE ip=$ip router=$router"
    ;;
esac
"""


@dataclass
class TinyGuest:
    kernel: Path
    initrd: Path
    disk: Path       # a tiny empty qcow2 root disk (the "ami")
    cmdline: str = CMDLINE


def _recipe_hash() -> str:
    h = hashlib.sha256()
    for part in (KERNEL_PACKAGE, INIT, UDHCPC_HOOK, " ".join(MODULES), CMDLINE):
        h.update(part.encode())
    h.update(Path(BUSYBOX).read_bytes())
    return h.hexdigest()[:16]


def _kernel_deb(workdir: Path) -> Path:
    debs = CACHE / "debs"
    found = sorted(glob.glob(str(debs / f"{KERNEL_PACKAGE}_*.deb")))
    if found:
        return Path(found[-1])
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", KERNEL_PACKAGE], cwd=workdir, check=True, capture_output=True)
    deb = next(workdir.glob(f"{KERNEL_PACKAGE}_*.deb"))
    return Path(shutil.move(str(deb), debs / deb.name))


def prepare_cache() -> None:
    """The shared cache of built test guests; traversable for libvirt's qemu user."""
    CACHE.mkdir(parents=True, exist_ok=True)
    os.chmod(CACHE, 0o755)


def publish(stage: Path, target: Path, done: str) -> None:
    """Move a finished build into the cache at once, world-readable for libvirt's qemu user; `done` marks it."""
    for f in stage.iterdir():
        os.chmod(f, 0o644)
    (stage / "done").write_text(done)
    os.chmod(stage, 0o755)
    try:
        os.rename(stage, target)
    except OSError:
        if not (target / "done").exists():  # another run won the race only if it finished
            raise


def build_tiny_guest() -> TinyGuest:
    """Build (or reuse from the cache) the tiny guest; files are world-readable for libvirt's qemu user."""
    target = CACHE / f"guest-{_recipe_hash()}"
    guest = TinyGuest(target / "vmlinuz", target / "initrd.gz", target / "disk.qcow2")
    if (target / "done").exists():
        return guest
    prepare_cache()
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        work = Path(tmp)
        deb = _kernel_deb(work)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "x")], check=True)
        root = work / "initramfs"
        for d in ("bin", "proc", "sys", "dev", "mods", "tmp", "mnt", "etc"):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy(BUSYBOX, root / "bin" / "busybox")
        (root / "init").write_text(INIT.replace("__MODULES__", " ".join(MODULES)))
        (root / "bin" / "egret-udhcpc").write_text(UDHCPC_HOOK)
        os.chmod(root / "init", 0o755)
        os.chmod(root / "bin" / "egret-udhcpc", 0o755)
        for mod in MODULES:
            path = next(iter(glob.glob(str(work / "x" / "lib" / "modules" / "*" / "kernel" / "**" / f"{mod}.ko"),
                                       recursive=True)), None)
            if path:
                shutil.copy(path, root / "mods" / f"{mod}.ko")
        stage = work / "out"
        stage.mkdir()
        files = subprocess.run(["find", "."], cwd=root, check=True, capture_output=True).stdout
        cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=files, check=True,
                              capture_output=True).stdout
        (stage / "initrd.gz").write_bytes(gzip.compress(cpio, compresslevel=1))
        shutil.copy(next((work / "x" / "boot").glob("vmlinuz-*")), stage / "vmlinuz")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(stage / "disk.qcow2"), "64M"], check=True)
        publish(stage, target, "ok\n")
    return guest
