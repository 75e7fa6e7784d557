"""Stage 1 of the Debian image: a cached mmdebstrap rootfs (Debian packages only), keyed by its inputs."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

from appliance.debian import MIRROR, SUITE  # the test guests (appliance/testing/cloudguest.py) use the same

# bump when the hooks below change meaning, so cached rootfs trees are rebuilt
RECIPE_VERSION = "5"

ARCHES = {
    "amd64": {"kernel": "linux-image-amd64", "rt_kernel": "linux-image-rt-amd64", "qemu": "qemu-system-x86", "efi_arch": "x64",
              "root_type": "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "console": "ttyS0"},
    "arm64": {"kernel": "linux-image-arm64", "rt_kernel": "linux-image-rt-arm64", "qemu": "qemu-system-arm", "efi_arch": "aa64",
              "root_type": "B921B045-1DF0-41C3-AF44-4C6F280D3FAE", "console": "ttyAMA0"},
}

PACKAGES = [
    # boot and base system
    "systemd-sysv", "udev", "dbus", "initramfs-tools", "zstd", "kmod", "fdisk", "e2fsprogs", "dosfstools",
    "util-linux", "procps", "systemd-boot-efi", "mtools", "netbase", "iproute2", "iputils-ping", "curl", "ca-certificates", "less",
    # the Egret venv (pip installs the wheel; libvirt bindings come from Debian)
    "python3", "python3-venv", "python3-libvirt",
    # what the services drive
    "libvirt-daemon-system", "qemu-utils", "dnsmasq-base", "nftables", "lvm2", "thin-provisioning-tools",
    # qemu-img runs in a bubblewrap sandbox (appliance/diskimage.py)
    "bubblewrap",
    # storage's iSCSI export of volumes to other nodes (tgtd, a userspace target; services/storage/drivers/tgt.py)
    # and QEMU's initiator for them (libiscsi, the block-iscsi module) on the nodes using them
    "tgt", "qemu-block-extra",
    # the network driver announces (re)plumbed router gateway and floating IPs with `arping -U`
    "iputils-arping",
    # a site's shared database: founding a site starts it (egret-postgresql.service, appliance/image/postgres.py)
    "postgresql",
    # the timing service's PTP daemons (ptp4l, phc2sys, pmc)
    "linuxptp",
    # cyclictest, for bench/realtime.py inside the box
    "rt-tests",
]


def packages(arch: str) -> list[str]:
    # both kernels, side by side: the real-time profile boots the PREEMPT_RT one (appliance/realtime.py)
    return PACKAGES + [ARCHES[arch]["kernel"], ARCHES[arch]["rt_kernel"], ARCHES[arch]["qemu"]]


def cache_key(arch: str) -> str:
    blob = json.dumps({"suite": SUITE, "arch": arch, "packages": packages(arch), "recipe": RECIPE_VERSION},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_rootfs(arch: str, cache_dir: Path, log=print) -> Path:
    """The cached rootfs directory for `arch`; built with mmdebstrap when missing (a few minutes)."""
    key = cache_key(arch)
    target = cache_dir / f"rootfs-{arch}-{key}"
    if (target / ".egret-complete").exists():
        log(f"rootfs: cache hit {target}")
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f"rootfs-{arch}-{key}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [
        "mmdebstrap", "--variant=minbase", f"--architectures={arch}", "--include=" + ",".join(packages(arch)),
        # no docs, man pages or translations on an appliance
        "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--aptopt=APT::Install-Recommends \"false\"",
        "--customize-hook=chroot \"$1\" apt-get clean",
        # two kernels' modules are 800 MB uncompressed; kmod reads zstd (the initrds, made earlier, keep theirs)
        "--customize-hook=chroot \"$1\" sh -c 'find /usr/lib/modules -name \"*.ko\" -print0 | "
        "xargs -0 -P2 -n64 zstd -q --rm -9 && for k in $(ls /usr/lib/modules); do depmod \"$k\"; done'",
        "--customize-hook=rm -rf \"$1\"/var/lib/apt/lists/*",
        SUITE, str(tmp), MIRROR,
    ]
    log("rootfs: " + " ".join(cmd))
    started = time.monotonic()
    subprocess.run(cmd, check=True)
    (tmp / ".egret-complete").write_text(json.dumps({"key": key, "seconds": round(time.monotonic() - started, 1)}))
    tmp.rename(target)
    log(f"rootfs: built in {time.monotonic() - started:.0f}s → {target}")
    # keep only the newest two trees of this arch
    old = sorted(cache_dir.glob(f"rootfs-{arch}-*"), key=lambda p: p.stat().st_mtime)
    for path in old[:-2]:
        if path != target:
            shutil.rmtree(path, ignore_errors=True)
    return target


# what a foreign-architecture build needs on this machine: qemu-user through binfmt_misc for the target's
# maintainer scripts, arch-test for mmdebstrap, and the target's UEFI firmware and QEMU to boot the result
FOREIGN_BUILD_PACKAGES = ["qemu-user-static", "binfmt-support", "arch-test", "qemu-efi-aarch64", "qemu-system-arm"]


def ensure_binfmt() -> None:
    """arm64 rootfs builds run the target's maintainer scripts under qemu-user through binfmt_misc."""
    missing = [p for p in FOREIGN_BUILD_PACKAGES if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True).stdout != "install ok installed"]
    if missing:
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q",
                        "--no-install-recommends", *missing], check=True)
    if not Path("/proc/sys/fs/binfmt_misc/status").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"], check=True)
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        # without systemd as PID 1 nothing registered the formats at install time
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], check=True)
