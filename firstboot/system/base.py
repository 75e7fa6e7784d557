"""The contract every system layer implements; files under a root dir are shared by fake and real."""
from __future__ import annotations

import os
from pathlib import Path


class SystemError_(Exception):
    """The system refused a change; the message says what and why (shown to the operator)."""


class SystemLayer:
    """Network changes return a snapshot that restore_network() puts back exactly."""

    def __init__(self, root: Path):
        self.root = Path(root)

    # --- network -------------------------------------------------------------------------------
    def interfaces(self) -> list[dict]:
        raise NotImplementedError

    def snapshot_network(self, ifname: str) -> dict:
        raise NotImplementedError

    def apply_network(self, plan: dict) -> dict:
        """Apply a validated network plan; returns what it got (e.g. the DHCP address)."""
        raise NotImplementedError

    def restore_network(self, snapshot: dict) -> None:
        raise NotImplementedError

    # --- disks ---------------------------------------------------------------------------------
    def disks(self) -> list[dict]:
        raise NotImplementedError

    def prepare_disk(self, device: str, label: str, mountpoint: Path) -> None:
        raise NotImplementedError

    def release_disk(self, device: str, mountpoint: Path) -> None:
        raise NotImplementedError

    # --- files under root (hostname, timezone, NTP, resolver) ------------------------------------
    def _path(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    def read_files(self, rels: list[str]) -> dict:
        """Previous contents (None: absent) so an undo can put them back."""
        out = {}
        for rel in rels:
            p = self._path(rel)
            if p.is_symlink():
                out[rel] = {"symlink": os.readlink(p)}
            elif p.exists():
                out[rel] = {"text": p.read_text()}
            else:
                out[rel] = None
        return out

    def restore_files(self, previous: dict) -> None:
        for rel, old in previous.items():
            p = self._path(rel)
            if p.is_symlink() or p.exists():
                p.unlink()
            if old is None:
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            if "symlink" in old:
                p.symlink_to(old["symlink"])
            else:
                p.write_text(old["text"])

    IDENTITY_FILES = ["etc/hostname", "etc/hosts", "etc/timezone", "etc/localtime",
                      "etc/systemd/timesyncd.conf.d/egret.conf", "etc/resolv.conf"]

    def set_identity(self, hostname: str, timezone: str, ntp: list[str], dns: list[str]) -> dict:
        previous = self.read_files(self.IDENTITY_FILES)
        self._write("etc/hostname", hostname + "\n")
        short = hostname.split(".")[0]
        names = f"{hostname} {short}" if short != hostname else hostname
        self._write("etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{names}\n::1\tlocalhost ip6-localhost\n")
        self._write("etc/timezone", timezone + "\n")
        lt = self._path("etc/localtime")
        if lt.is_symlink() or lt.exists():
            lt.unlink()
        lt.symlink_to(f"/usr/share/zoneinfo/{timezone}")
        if ntp:
            self._write("etc/systemd/timesyncd.conf.d/egret.conf", "[Time]\nNTP=" + " ".join(ntp) + "\n")
        if dns:
            self._write("etc/resolv.conf", "".join(f"nameserver {d}\n" for d in dns))
        self._set_live_hostname(hostname)
        return previous

    def restore_identity(self, previous: dict) -> None:
        self.restore_files(previous)

    MGMT_NETWORK_FILE = "etc/systemd/network/10-egret-mgmt.network"
    MGMT_VLAN_FILES = ["etc/systemd/network/10-egret-mgmt-vlan.netdev",
                       "etc/systemd/network/11-egret-mgmt-vlan.network"]

    def persist_network(self, plan: dict) -> dict:
        """systemd-networkd files for the confirmed management network, so it survives a reboot; returns
        the previous files for an undo. The file name sorts before the image's catch-all DHCP file."""
        previous = self.read_files([self.MGMT_NETWORK_FILE, *self.MGMT_VLAN_FILES])
        if plan["mode"] == "static":
            addressing = f"Address={plan['address']}\n" + (f"Gateway={plan['gateway']}\n" if plan.get("gateway")
                                                           else "")
        else:
            addressing = "DHCP=yes\n"
        addressing += "".join(f"DNS={d}\n" for d in plan.get("dns") or [])
        match = f"[Match]\nName={plan['interface']}\n\n"
        if plan.get("vlan"):
            vlan = f"{plan['interface'][:10]}.{plan['vlan']}"
            self._write(self.MGMT_NETWORK_FILE, match + f"[Network]\nVLAN={vlan}\nLinkLocalAddressing=no\n")
            self._write(self.MGMT_VLAN_FILES[0], f"[NetDev]\nName={vlan}\nKind=vlan\n\n[VLAN]\nId={plan['vlan']}\n")
            self._write(self.MGMT_VLAN_FILES[1], f"[Match]\nName={vlan}\n\n[Network]\n{addressing}")
        else:
            self._write(self.MGMT_NETWORK_FILE, match + f"[Network]\n{addressing}")
        return previous

    def _set_live_hostname(self, hostname: str) -> None:
        """Only the real box changes the running kernel's host name (never a dev machine)."""

    def _write(self, rel: str, text: str) -> None:
        p = self._path(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
