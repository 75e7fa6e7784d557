"""The real system layer: pyroute2 in this network namespace, udhcpc for DHCP, mkfs/mount for disks."""
from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from firstboot import hardware
from firstboot.system.base import SystemError_, SystemLayer

# udhcpc calls this with the lease in its environment; we only set the address and default route
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip -4 addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then ip -4 route replace default via "${router%% *}" dev "$interface"; fi
    echo "$ip/${mask:-24}" > "$EGRET_LEASE_FILE"
    ;;
esac
exit 0
"""


def _udhcpc() -> list[str] | None:
    if shutil.which("udhcpc"):
        return [shutil.which("udhcpc")]
    if shutil.which("busybox"):
        return [shutil.which("busybox"), "udhcpc"]
    return None


class RealSystem(SystemLayer):
    def __init__(self, root: Path, dhcp_timeout: float = 10.0):
        super().__init__(root)
        self.dhcp_timeout = dhcp_timeout

    def interfaces(self):
        return hardware.list_interfaces()

    def disks(self):
        return hardware.list_disks()

    @staticmethod
    def _index(ipr, ifname: str) -> int:
        found = ipr.link_lookup(ifname=ifname)
        if not found:
            raise SystemError_(f"interface {ifname} does not exist")
        return found[0]

    def snapshot_network(self, ifname):
        with IPRoute() as ipr:
            idx = self._index(ipr, ifname)
            link = ipr.get_links(idx)[0]
            addrs = [f"{m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}"
                     for m in ipr.get_addr(index=idx, family=socket.AF_INET)]
            gateway = None
            for r in ipr.get_routes(family=socket.AF_INET, table=254):
                if r["dst_len"] == 0 and r.get_attr("RTA_GATEWAY"):
                    gateway = {"via": r.get_attr("RTA_GATEWAY"), "oif": r.get_attr("RTA_OIF")}
                    break
            up = bool(link["flags"] & 1)
        return {"ifname": ifname, "addresses": addrs, "state": "up" if up else "down", "gateway": gateway,
                "vlan_link": None}

    def apply_network(self, plan):
        target = plan["interface"]
        try:
            with IPRoute() as ipr:
                idx = self._index(ipr, plan["interface"])
                ipr.link("set", index=idx, state="up")
                if plan.get("vlan"):
                    target = f"{plan['interface'][:10]}.{plan['vlan']}"
                    try:
                        ipr.link("add", ifname=target, kind="vlan", link=idx, vlan_id=int(plan["vlan"]))
                    except NetlinkError as exc:
                        raise SystemError_(f"cannot create VLAN {plan['vlan']} on {plan['interface']}: "
                                           f"{exc.args[-1] if exc.args else exc} (does the kernel have 802.1Q?)")
                    idx = self._index(ipr, target)
                    ipr.link("set", index=idx, state="up")
                if plan["mode"] == "static":
                    for m in ipr.get_addr(index=idx, family=socket.AF_INET):
                        ipr.addr("del", index=idx, address=m.get_attr("IFA_ADDRESS"), prefixlen=m["prefixlen"])
                    iface = ipaddress.ip_interface(plan["address"])
                    ipr.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
                    if plan.get("gateway"):
                        ipr.route("replace", dst="0.0.0.0/0", gateway=plan["gateway"], oif=idx)
                    return {"address": plan["address"], "interface": target}
        except NetlinkError as exc:
            raise SystemError_(f"the kernel refused the change on {target}: {exc}") from None
        return {"address": self._dhcp(target), "interface": target}

    def _dhcp(self, ifname: str) -> str:
        cmd = _udhcpc()
        if cmd is None:
            raise SystemError_("no DHCP client (udhcpc) on this system")
        with tempfile.TemporaryDirectory(prefix="egret-dhcp-") as tmp:
            script = Path(tmp) / "script"
            script.write_text(UDHCPC_SCRIPT)
            script.chmod(stat.S_IRWXU)
            lease = Path(tmp) / "lease"
            tries = max(1, int(self.dhcp_timeout // 2))
            env = {**os.environ, "EGRET_LEASE_FILE": str(lease)}
            try:
                subprocess.run([*cmd, "-i", ifname, "-n", "-q", "-f", "-t", str(tries), "-T", "2", "-A", "1",
                                "-s", str(script)], env=env, capture_output=True, timeout=self.dhcp_timeout + 10)
            except subprocess.TimeoutExpired:
                pass
            if not lease.exists():
                raise SystemError_(f"no DHCP lease on {ifname} within {self.dhcp_timeout:.0f} s")
            return lease.read_text().strip()

    def restore_network(self, snapshot):
        with IPRoute() as ipr:
            # a VLAN link we created is named <if>.<id>; remove every such child of the interface
            idx = self._index(ipr, snapshot["ifname"])
            for link in ipr.get_links():
                if link.get_attr("IFLA_LINK") == idx and (link.get_attr("IFLA_IFNAME") or "").startswith(
                        snapshot["ifname"][:10] + "."):
                    ipr.link("del", index=link["index"])
            for m in ipr.get_addr(index=idx, family=socket.AF_INET):
                ipr.addr("del", index=idx, address=m.get_attr("IFA_ADDRESS"), prefixlen=m["prefixlen"])
            for addr in snapshot["addresses"]:
                iface = ipaddress.ip_interface(addr)
                ipr.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
            ipr.link("set", index=idx, state=snapshot["state"])
            gw = snapshot.get("gateway")
            try:
                for r in ipr.get_routes(family=socket.AF_INET, table=254):
                    if r["dst_len"] == 0:
                        ipr.route("del", dst="0.0.0.0/0", gateway=r.get_attr("RTA_GATEWAY"),
                                  oif=r.get_attr("RTA_OIF"))
                if gw:
                    ipr.route("replace", dst="0.0.0.0/0", gateway=gw["via"], oif=gw["oif"])
            except NetlinkError as exc:
                raise SystemError_(f"could not restore the default route: {exc}") from None

    def prepare_disk(self, device, label, mountpoint):
        mountpoint = Path(mountpoint)
        mountpoint.mkdir(parents=True, exist_ok=True)
        for cmd in (["wipefs", "-a", "-q", device], ["mkfs.ext4", "-F", "-q", "-L", label[:16], device],
                    ["mount", device, str(mountpoint)]):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemError_(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")

    def release_disk(self, device, mountpoint):
        if os.path.ismount(mountpoint):
            subprocess.run(["umount", str(mountpoint)], capture_output=True)

    def _set_live_hostname(self, hostname):
        if self.root == Path("/"):
            socket.sethostname(hostname)
