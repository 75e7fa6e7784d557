"""Live discovery of NICs (pyroute2 netlink + sysfs) and disks (pyudev over sysfs, blkid, mountinfo)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pyudev
from pyroute2 import IPRoute

SYS = Path("/sys")


def _read(path: Path, default=None):
    try:
        return path.read_text().strip()
    except OSError:  # e.g. speed of a link that is down raises EINVAL
        return default


def list_interfaces() -> list[dict]:
    """Every link of this network namespace except loopback: name, MAC, state, carrier, speed, IPv4/6."""
    out = []
    with IPRoute() as ipr:
        addrs: dict[int, list[str]] = {}
        for msg in ipr.get_addr():
            addrs.setdefault(msg["index"], []).append(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
        for link in ipr.get_links():
            name = link.get_attr("IFLA_IFNAME")
            if name == "lo":
                continue
            info = link.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info is not None else "ether"
            speed = _read(SYS / "class/net" / name / "speed")
            speed_mbps = int(speed) if speed and speed.lstrip("-").isdigit() and int(speed) > 0 else None
            out.append({
                "name": name,
                "mac": link.get_attr("IFLA_ADDRESS"),
                "state": (link.get_attr("IFLA_OPERSTATE") or "unknown").lower(),
                "carrier": bool(link.get_attr("IFLA_CARRIER")),
                "speed_mbps": speed_mbps,
                "addresses": addrs.get(link["index"], []),
                "kind": kind,
            })
    return sorted(out, key=lambda n: n["name"])


def _mounts() -> dict[str, str]:
    """major:minor -> mount point, from this process's mountinfo."""
    out = {}
    for line in _read(Path("/proc/self/mountinfo"), "").splitlines():
        parts = line.split()
        if len(parts) > 4:
            out.setdefault(parts[2], parts[4])
    return out


def _swaps() -> set[str]:
    lines = _read(Path("/proc/swaps"), "").splitlines()[1:]
    return {os.path.basename(line.split()[0]) for line in lines if line.strip()}


def _fstype(device, node: str | None) -> str | None:
    """udev's ID_FS_TYPE when udevd runs; otherwise ask blkid (udevd is absent on build machines)."""
    fstype = device.properties.get("ID_FS_TYPE")
    if fstype or not node:
        return fstype or None
    try:
        proc = subprocess.run(["blkid", "-p", "-o", "value", "-s", "TYPE", node], capture_output=True, text=True,
                              timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None


SKIP_PREFIXES = ("ram", "zram", "dm-", "md", "sr", "fd", "nbd")


def list_disks() -> list[dict]:
    """Whole disks with size > 0: model, size, rotational, removable, partitions and why each is in use."""
    ctx = pyudev.Context()
    mounts = _mounts()
    swaps = _swaps()
    disks = []
    for dev in ctx.list_devices(subsystem="block", DEVTYPE="disk"):
        name = dev.sys_name
        if name.startswith(SKIP_PREFIXES):
            continue
        sysdir = Path(dev.sys_path)
        size = int(_read(sysdir / "size", "0") or 0) * 512
        if size == 0:  # unattached loop devices, empty card readers
            continue
        reasons, partitions, system = [], [], False
        holders = sorted(os.listdir(sysdir / "holders")) if (sysdir / "holders").is_dir() else []
        if holders:
            reasons.append(f"held by {', '.join(holders)}")
        mp = mounts.get(_read(sysdir / "dev"))
        if mp:
            reasons.append(f"mounted at {mp}")
            system |= mp in ("/", "/boot", "/boot/efi", "/usr")
        if name in swaps:
            reasons.append("used as swap")
        for part in dev.children:
            if part.device_type != "partition":
                continue
            pdir = Path(part.sys_path)
            pmp = mounts.get(_read(pdir / "dev"))
            pfs = _fstype(part, part.device_node)
            partitions.append({"name": part.sys_name, "fstype": pfs, "mountpoint": pmp})
            if pmp:
                reasons.append(f"{part.sys_name} mounted at {pmp}")
                system |= pmp in ("/", "/boot", "/boot/efi", "/usr")
            elif part.sys_name in swaps:
                reasons.append(f"{part.sys_name} used as swap")
            elif pfs:
                reasons.append(f"{part.sys_name} has a {pfs} filesystem")
            if (pdir / "holders").is_dir() and os.listdir(pdir / "holders"):
                reasons.append(f"{part.sys_name} held by {', '.join(sorted(os.listdir(pdir / 'holders')))}")
        if not partitions:
            fs = _fstype(dev, dev.device_node)
            if fs:
                reasons.append(f"has a {fs} filesystem")
        model = _read(sysdir / "device" / "model") or dev.properties.get("ID_MODEL")
        if not model and name.startswith("loop"):
            model = "loop: " + (_read(sysdir / "loop" / "backing_file") or "?")
        disks.append({
            "name": name,
            "path": dev.device_node or f"/dev/{name}",
            "model": model or "unknown",
            "size_bytes": size,
            "rotational": _read(sysdir / "queue" / "rotational") == "1",
            "removable": _read(sysdir / "removable") == "1",
            "in_use": bool(reasons),
            "in_use_reasons": reasons,
            "system": system,
            "partitions": partitions,
        })
    return sorted(disks, key=lambda d: d["name"])
