"""In-memory system layer for unit tests: same contract as the real one, scripted failures."""
from __future__ import annotations

import copy
from pathlib import Path

from firstboot.system.base import SystemError_, SystemLayer


def default_nics() -> list[dict]:
    return [
        {"name": "eth0", "mac": "52:54:00:12:34:56", "state": "up", "carrier": True, "speed_mbps": 1000,
         "addresses": ["192.168.1.20/24"], "kind": "ether"},
        {"name": "eth1", "mac": "52:54:00:12:34:57", "state": "down", "carrier": False, "speed_mbps": None,
         "addresses": [], "kind": "ether"},
    ]


def default_disks() -> list[dict]:
    return [
        {"name": "sda", "path": "/dev/sda", "model": "Samsung SSD 870", "size_bytes": 500107862016,
         "rotational": False, "removable": False, "in_use": True, "in_use_reasons": ["sda1 mounted at /"],
         "system": True, "partitions": [{"name": "sda1", "fstype": "ext4", "mountpoint": "/"}]},
        {"name": "sdb", "path": "/dev/sdb", "model": "WDC WD40EFRX", "size_bytes": 4000787030016,
         "rotational": True, "removable": False, "in_use": False, "in_use_reasons": [], "system": False,
         "partitions": []},
        {"name": "sdc", "path": "/dev/sdc", "model": "Old disk", "size_bytes": 1000204886016,
         "rotational": True, "removable": False, "in_use": True, "system": False,
         "in_use_reasons": ["sdc1 has a xfs filesystem"],
         "partitions": [{"name": "sdc1", "fstype": "xfs", "mountpoint": None}]},
    ]


class FakeSystem(SystemLayer):
    def __init__(self, root: Path, nics=None, disks=None):
        super().__init__(root)
        self.nics = nics if nics is not None else default_nics()
        self._disks = disks if disks is not None else default_disks()
        self.routes: dict[str, str | None] = {"default": "192.168.1.1"}
        self.fail_network: str | None = None   # message to raise from apply_network
        self.fail_disk: str | None = None
        self.dhcp_address = "192.168.1.77/24"
        self.prepared: dict[str, str] = {}
        self.hostname = "localhost"
        self.calls: list[tuple] = []

    def interfaces(self):
        return copy.deepcopy(self.nics)

    def _nic(self, name):
        for nic in self.nics:
            if nic["name"] == name:
                return nic
        raise SystemError_(f"interface {name} does not exist")

    def snapshot_network(self, ifname):
        nic = self._nic(ifname)
        return {"ifname": ifname, "addresses": list(nic["addresses"]), "state": nic["state"],
                "gateway": self.routes.get("default"), "vlan_link": None}

    def apply_network(self, plan):
        self.calls.append(("apply_network", plan))
        nic = self._nic(plan["interface"])
        if self.fail_network:
            nic["addresses"] = []  # a half-applied change, which restore must undo
            raise SystemError_(self.fail_network)
        nic["state"] = "up"
        nic["addresses"] = [plan["address"] if plan["mode"] == "static" else self.dhcp_address]
        self.routes["default"] = plan.get("gateway") if plan["mode"] == "static" else "192.168.1.1"
        return {"address": nic["addresses"][0]}

    def restore_network(self, snapshot):
        self.calls.append(("restore_network", snapshot))
        nic = self._nic(snapshot["ifname"])
        nic["addresses"] = list(snapshot["addresses"])
        nic["state"] = snapshot["state"]
        self.routes["default"] = snapshot["gateway"]

    def disks(self):
        return copy.deepcopy(self._disks)

    def prepare_disk(self, device, label, mountpoint):
        self.calls.append(("prepare_disk", device, label))
        if self.fail_disk:
            raise SystemError_(self.fail_disk)
        Path(mountpoint).mkdir(parents=True, exist_ok=True)
        self.prepared[device] = label

    def release_disk(self, device, mountpoint):
        self.calls.append(("release_disk", device))
        self.prepared.pop(device, None)

    def _set_live_hostname(self, hostname):
        self.hostname = hostname
