"""Discovery and the real system layer against the kernel: veth in a namespace, loop devices, pyudev/sysfs."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest
from pyroute2 import netns as pr_netns

from firstboot import hardware
from firstboot.system import SystemError_
from firstboot.system.fake import FakeSystem
from firstboot.system.real import RealSystem

from fb_int_helpers import sh

pytestmark = pytest.mark.integration


def test_interfaces_discovered_in_namespace(netns):
    nics = netns.run_python("import json; from firstboot.hardware import list_interfaces; "
                            "print(json.dumps(list_interfaces()))")
    by_name = {n["name"]: n for n in nics}
    assert set(by_name) == {netns.inner, netns.peer}  # loopback is never offered
    link = json.loads(sh("ip", "-n", netns.name, "-j", "link", "show", "dev", netns.inner).stdout)[0]
    nic = by_name[netns.inner]
    assert nic["mac"] == link["address"]
    assert nic["state"] == "up" and nic["carrier"] is True and nic["kind"] == "veth"
    assert nic["speed_mbps"] == 10000  # what veth reports in sysfs
    assert nic["addresses"][0] == "10.66.0.2/24"
    sh("ip", "-n", netns.name, "link", "set", netns.peer, "down")
    nics = netns.run_python("import json; from firstboot.hardware import list_interfaces; "
                            "print(json.dumps(list_interfaces()))")
    assert {n["name"]: n["state"] for n in nics}[netns.inner] == "lowerlayerdown"


def _disk(name):
    return {d["name"]: d for d in hardware.list_disks()}.get(name)


def test_loop_disk_free_then_filesystem_then_mounted(loopdev, tmp_path):
    dev, img = loopdev(64)
    name = os.path.basename(dev)
    disk = _disk(name)
    assert disk["size_bytes"] == 64 * 1024 * 1024
    assert disk["model"] == f"loop: {img}" and disk["path"] == dev
    assert disk["in_use"] is False and disk["partitions"] == []
    assert disk["rotational"] == (open(f"/sys/block/{name}/queue/rotational").read().strip() == "1")
    sh("mkfs.ext4", "-q", "-F", dev)
    disk = _disk(name)
    assert disk["in_use"] and disk["in_use_reasons"] == ["has a ext4 filesystem"]
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    sh("mount", dev, str(mnt))
    try:
        disk = _disk(name)
        assert f"mounted at {mnt}" in disk["in_use_reasons"] and disk["system"] is False
    finally:
        sh("umount", str(mnt))


def test_loop_disk_with_partitions(loopdev):
    dev, _ = loopdev(64)
    name = os.path.basename(dev)
    sh("sh", "-c", f"echo 'label: gpt\n,32M\n,' | sfdisk -q {dev}")
    sh("partx", "-u", dev, check=False)
    for _ in range(50):
        if os.path.exists(f"{dev}p2"):
            break
        time.sleep(0.05)
    sh("mkfs.ext4", "-q", "-F", f"{dev}p1")
    disk = _disk(name)
    parts = {p["name"]: p["fstype"] for p in disk["partitions"]}
    assert parts == {f"{name}p1": "ext4", f"{name}p2": None}
    assert disk["in_use"] and f"{name}p1 has a ext4 filesystem" in disk["in_use_reasons"]


def test_root_disk_is_marked_system():
    disks = hardware.list_disks()
    root_dev = os.stat("/").st_dev
    majmin = f"{os.major(root_dev)}:{os.minor(root_dev)}"
    holders = [d for d in disks if any(r.endswith(" at /") or r == "mounted at /" for r in d["in_use_reasons"])]
    if not holders:
        pytest.skip(f"/ is on {majmin}, not a block disk here (overlay/virtiofs root)")
    assert all(d["system"] for d in holders)


def test_real_prepare_and_release_disk(loopdev, tmp_path):
    dev, _ = loopdev(64)
    system = RealSystem(tmp_path / "root")
    mnt = tmp_path / "mnt"
    system.prepare_disk(dev, "egret-test", mnt)
    assert os.path.ismount(mnt)
    assert sh("blkid", "-o", "value", "-s", "LABEL", dev).stdout.strip() == "egret-test"
    system.release_disk(dev, mnt)
    assert not os.path.ismount(mnt)


# --- the same network contract on the fake and the real layer ------------------------------------------
@pytest.fixture(params=["fake", "real"])
def layer(request, netns, tmp_path):
    if request.param == "fake":
        nics = [{"name": netns.inner, "mac": "02:00:00:00:00:01", "state": "up", "carrier": True,
                 "speed_mbps": 10000, "addresses": ["10.66.0.2/24"], "kind": "veth"}]
        fake = FakeSystem(tmp_path, nics=nics)
        fake.routes["default"] = None
        yield fake, lambda: fake.nics[0]["addresses"], lambda: fake.routes["default"]
        return
    pr_netns.pushns(netns.name)  # this thread's netlink sockets and children now live in the namespace
    try:
        yield (RealSystem(tmp_path, dhcp_timeout=2), lambda: netns.addresses(netns.inner), netns.default_route)
    finally:
        pr_netns.popns()


def test_static_apply_and_restore(layer, netns):
    system, addrs, gateway = layer
    snap = system.snapshot_network(netns.inner)
    assert snap["addresses"] == ["10.66.0.2/24"] and snap["state"] == "up"
    result = system.apply_network({"interface": netns.inner, "mode": "static", "address": "10.66.0.9/24",
                                   "gateway": "10.66.0.1", "vlan": None, "dns": []})
    assert result["address"] == "10.66.0.9/24"
    assert addrs() == ["10.66.0.9/24"] and gateway() == "10.66.0.1"
    system.restore_network(snap)
    assert addrs() == ["10.66.0.2/24"] and gateway() is None


def test_failed_apply_then_restore(layer, netns):
    system, addrs, gateway = layer
    snap = system.snapshot_network(netns.inner)
    if isinstance(system, FakeSystem):
        system.fail_network = "no lease"
        plan = {"interface": netns.inner, "mode": "dhcp", "vlan": None, "dns": []}
    else:
        # no DHCP server answers on this veth: udhcpc gives up, which is the real failure
        plan = {"interface": netns.inner, "mode": "dhcp", "vlan": None, "dns": []}
    with pytest.raises(SystemError_):
        system.apply_network(plan)
    system.restore_network(snap)
    assert addrs() == ["10.66.0.2/24"]


def test_vlan_on_a_kernel_without_8021q_fails_cleanly(netns, tmp_path):
    if os.path.exists("/proc/net/vlan"):
        pytest.skip("this kernel has 802.1Q; the refusal path is exercised only where it is missing")
    pr_netns.pushns(netns.name)
    try:
        system = RealSystem(tmp_path)
        snap = system.snapshot_network(netns.inner)
        with pytest.raises(SystemError_, match="802.1Q"):
            system.apply_network({"interface": netns.inner, "mode": "static", "address": "10.66.0.9/24",
                                  "vlan": 42, "dns": []})
        system.restore_network(snap)
        assert netns.addresses(netns.inner) == ["10.66.0.2/24"]
    finally:
        pr_netns.popns()


def test_dhcp_lease_from_dnsmasq_then_restore(netns, tmp_path):
    """The real DHCP path: busybox udhcpc against dnsmasq on the other end of the veth."""
    dnsmasq = shutil.which("dnsmasq")
    assert dnsmasq, "dnsmasq-base is in setup-debian.sh"
    proc = subprocess.Popen(["ip", "netns", "exec", netns.name, dnsmasq, "--keep-in-foreground", "--port=0",
                             "--bind-interfaces", f"--interface={netns.peer}", "--except-interface=lo",
                             "--dhcp-range=10.66.0.50,10.66.0.60,255.255.255.0,1h", "--no-ping",
                             "--dhcp-option=3,10.66.0.1", f"--dhcp-leasefile={tmp_path / 'leases'}",
                             f"--pid-file={tmp_path / 'dnsmasq.pid'}", "--log-dhcp"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.3)
        pr_netns.pushns(netns.name)
        try:
            system = RealSystem(tmp_path, dhcp_timeout=8)
            snap = system.snapshot_network(netns.inner)
            result = system.apply_network({"interface": netns.inner, "mode": "dhcp", "vlan": None, "dns": []})
            ip = result["address"].split("/")[0]
            assert result["address"].endswith("/24") and 50 <= int(ip.split(".")[-1]) <= 60
            assert netns.addresses(netns.inner) == [result["address"]]
            assert netns.default_route() == "10.66.0.1"
            system.restore_network(snap)
            assert netns.addresses(netns.inner) == ["10.66.0.2/24"] and netns.default_route() is None
        finally:
            pr_netns.popns()
    finally:
        proc.terminate()
        proc.wait(10)
