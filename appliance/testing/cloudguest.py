"""A small Debian 12 cloud-init guest (kernel + initrd + ext4 root disk), built from Debian packages and cached.

mmdebstrap (minbase) with linux-image-cloud-amd64, systemd, cloud-init, openssh-server and ifupdown; the root
filesystem is made with `mkfs.ext4 -d` (no loop mounts) and stored as a compressed qcow2. It is booted like
Nova's AMI images: the disk's `kernel_id`, `ramdisk_id` and `os_command_line` properties name the kernel and
initrd images. cloud-init's datasource_list is [ConfigDrive, OpenStack], so a server with a config drive is
configured from the drive and any other from the metadata service at 169.254.169.254.

Cached under /var/cache/egret-test keyed by its inputs (packages, configuration, recipe). The Debian mirror is
EGRET_DEBIAN_MIRROR (default: the appliance image's mirror).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.debian import MIRROR, SUITE
from appliance.testing.guest import CACHE, prepare_cache, publish

RECIPE_VERSION = "1"
# no_timer_check: under a loaded TCG host the IO-APIC timer check fails and the kernel panics (as cirros does)
CMDLINE = "root=/dev/vda ro console=ttyS0 net.ifnames=0 no_timer_check panic=-1 quiet"
USER = "debian"  # Debian's cloud.cfg default user; the server's SSH key is installed for it
# not linux-image-cloud-amd64: it has no AHCI driver, and on q35 the config drive is a SATA cdrom (as in Nova)
PACKAGES = ["linux-image-amd64", "initramfs-tools", "systemd-sysv", "udev", "dbus", "cloud-init",
            "openssh-server", "ifupdown", "isc-dhcp-client", "iproute2", "sudo", "e2fsprogs"]

CLOUD_CFG = """\
# Egret test guest: config drive first (it is only present when asked for), then the metadata service
datasource_list: [ ConfigDrive, OpenStack ]
datasource:
  OpenStack:
    max_wait: 120
    timeout: 10
    retries: 5
# keep first boot short under TCG: no locale generation, one host key type
locale: C.UTF-8
ssh_genkeytypes: [ ed25519 ]
"""

# module trees a virtio guest never loads (dpkg path excludes keep them out of the disk and the initrd)
MODULE_EXCLUDES = ["drivers/gpu", "drivers/net/wireless", "drivers/net/ethernet", "drivers/media", "sound",
                   "drivers/infiniband", "drivers/staging", "drivers/bluetooth", "net/bluetooth", "net/wireless",
                   "net/mac80211", "drivers/isdn", "drivers/iio", "drivers/net/can", "drivers/hwmon",
                   "drivers/mtd", "drivers/input/touchscreen", "drivers/usb/gadget", "drivers/net/usb"]

# units that only cost boot time in a throwaway test guest
MASKED = ["apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "e2scrub_reap.service",
          "fstrim.timer", "man-db.timer", "dpkg-db-backup.timer", "systemd-timesyncd.service",
          "getty@tty1.service", "logrotate.timer", "serial-getty@ttyS0.service"]

HOOK = r"""set -e
root="$1"
cat > "$root/etc/cloud/cloud.cfg.d/99-egret.cfg" <<'EOF'
__CLOUD_CFG__EOF
# a single ext4 filesystem on the whole disk
echo 'LABEL=root / ext4 defaults,errors=remount-ro 0 1' > "$root/etc/fstab"
printf 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n' > "$root/etc/network/interfaces"
for u in __MASKED__; do ln -sf /dev/null "$root/etc/systemd/system/$u"; done
# every instance gets its own identity: no baked host keys, machine-id or hostname
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
echo localhost > "$root/etc/hostname"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
"""


@dataclass
class CloudGuest:
    kernel: Path
    initrd: Path
    disk: Path     # compressed qcow2 with the ext4 root filesystem
    cmdline: str = CMDLINE
    user: str = USER


def mirror() -> str:
    return os.environ.get("EGRET_DEBIAN_MIRROR", MIRROR)


def _hook() -> str:
    return HOOK.replace("__CLOUD_CFG__", CLOUD_CFG).replace("__MASKED__", " ".join(MASKED))


def recipe_hash() -> str:
    # the kernel command line is an image property, not part of the files: it is not in the key
    blob = json.dumps({"suite": SUITE, "packages": PACKAGES, "hook": _hook(), "excludes": MODULE_EXCLUDES,
                       "recipe": RECIPE_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_cloud_guest(log=print) -> CloudGuest:
    """Build (or reuse from the cache) the cloud-init guest; files are world-readable for libvirt's qemu user."""
    target = CACHE / f"cloudguest-{recipe_hash()}"
    guest = CloudGuest(target / "vmlinuz", target / "initrd.img", target / "disk.qcow2")
    if (target / "done").exists():
        return guest
    prepare_cache()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        work = Path(tmp)
        rootfs = work / "rootfs"
        cmd = ["mmdebstrap", "--variant=minbase", "--architectures=amd64", "--include=" + ",".join(PACKAGES),
               "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
               "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*",
               *[f"--dpkgopt=path-exclude=/lib/modules/*/kernel/{d}/*" for d in MODULE_EXCLUDES],
               "--aptopt=APT::Install-Recommends \"false\"",
               "--customize-hook=" + _hook(), SUITE, str(rootfs), mirror()]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"mmdebstrap failed: {proc.stderr[-2000:]}")
        stage = work / "out"
        stage.mkdir()
        shutil.copy(next((rootfs / "boot").glob("vmlinuz-*")), stage / "vmlinuz")
        shutil.copy(next((rootfs / "boot").glob("initrd.img-*")), stage / "initrd.img")
        # the kernel and initrd come from Glance; the root filesystem need not carry them
        for f in (rootfs / "boot").iterdir():
            if f.is_file():
                f.unlink()
        used_kib = int(subprocess.run(["du", "-sk", str(rootfs)], capture_output=True, text=True,
                                      check=True).stdout.split()[0])
        size_mib = used_kib // 1024 + 300  # room for cloud-init's logs, keys and first-boot state
        raw = work / "disk.raw"
        subprocess.run(["mkfs.ext4", "-q", "-L", "root", "-d", str(rootfs), str(raw), f"{size_mib}M"], check=True,
                       capture_output=True)
        subprocess.run(["qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", str(raw), str(stage / "disk.qcow2")],
                       check=True)
        publish(stage, target, json.dumps({"seconds": round(time.monotonic() - started, 1),
                                           "rootfs_mib": used_kib // 1024}) + "\n")
    log(f"cloud guest built in {time.monotonic() - started:.0f}s -> {target}")
    return guest


if __name__ == "__main__":
    print(build_cloud_guest())
