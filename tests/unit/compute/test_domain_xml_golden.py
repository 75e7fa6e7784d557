"""The libvirt XML of pinned, huge-page and real-time guests, line for line against reviewed golden files.

A change to the XML builder shows up here as a diff to read; EGRET_UPDATE_GOLDEN=1 rewrites the files after
review. That real libvirt accepts such definitions is the driver contract's part (test_driver_contract.py)."""
from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from services.compute.drivers.libvirt.xml import domain_xml, vif_from_xml
from services.compute.drivers.specs import DiskSpec, GuestSpec, HostCaps, VifSpec

GOLDEN = Path(__file__).parent / "golden"
HOST = HostCaps(domain_type="kvm", domain_type_reason="golden", cpus=8, memory_mb=16384, numa_nodes=2,
                dedicated_cpus=[2, 3, 4, 5, 6, 7], hugepages={2048: 1024, 1048576: 2})
GUESTS = {
    # a telco workload: pinned, vCPU 1 real-time (FIFO), 2 MiB pages, emulator threads on a CPU of their own
    "pinned-rt-hugepages-isolate": dict(vcpus=2, memory_mb=1024, cpuset=[4, 5, 6], page_kib=2048, extra_specs={
        "hw:cpu_policy": "dedicated", "hw:cpu_realtime": "yes", "hw:cpu_realtime_mask": "^0",
        "hw:mem_page_size": "2MB", "hw:emulator_threads_policy": "isolate"}),
    # pinned over two guest NUMA nodes on 1 GiB pages, emulator threads on the host's shared CPUs
    "pinned-numa-1g-share": dict(vcpus=4, memory_mb=2048, cpuset=[2, 3, 4, 5], page_kib=1048576, extra_specs={
        "hw:cpu_policy": "dedicated", "hw:numa_nodes": "2", "hw:mem_page_size": "1GB",
        "hw:emulator_threads_policy": "share"}),
    "shared-cpus": dict(vcpus=1, memory_mb=256, extra_specs={}),
}


@pytest.mark.parametrize("name", sorted(GUESTS))
def test_domain_xml_matches_the_golden_file(name):
    spec = GuestSpec(name=f"instance-{name}", uuid="3f2c1a9e-0000-4000-8000-000000000001",
                     disks=[DiskSpec(path="/var/lib/egret/instances/x/disk", target="vda")],
                     vifs=[VifSpec(bridge="brq0123456789a", tap="tap0123456789a", mac="fa:16:3e:00:00:01")],
                     console_log="/var/lib/egret/instances/x/console.log", **GUESTS[name])
    xml = domain_xml(spec, HOST) + "\n"
    path = GOLDEN / f"{name}.xml"
    if os.environ.get("EGRET_UPDATE_GOLDEN"):
        path.write_text(xml)
    assert xml == path.read_text()


def test_a_volume_over_iscsi_is_a_network_disk_without_its_password():
    """A volume another node exports: QEMU's initiator logs in with this node's name and CHAP; the password is
    in the libvirt secret the usage names (the driver defines it), never in the domain's XML."""
    volume = DiskSpec(path="iqn.2026-12.dev.egret:attachment-5e1f/1", target="vdb", source_type="network",
                      protocol="iscsi", portal="alpha.site.example:3260", initiator="iqn.2026-12.dev.egret:beta",
                      auth_username="egret-5e1f", auth_password="not-in-the-xml", serial="5e1f0000-aaaa-4bbb")
    spec = GuestSpec(name="instance-iscsi-volume", uuid="3f2c1a9e-0000-4000-8000-000000000002", vcpus=1,
                     memory_mb=256, disks=[DiskSpec(path="/var/lib/egret/instances/y/disk", target="vda"), volume],
                     console_log="/var/lib/egret/instances/y/console.log")
    xml = domain_xml(spec, HOST) + "\n"
    assert "not-in-the-xml" not in xml
    path = GOLDEN / "iscsi-volume.xml"
    if os.environ.get("EGRET_UPDATE_GOLDEN"):
        path.write_text(xml)
    assert xml == path.read_text()


def test_sriov_interfaces_match_the_golden_file_and_read_back():
    """A VF given whole (hostdev, VLAN 100), a macvtap on another VF's netdev, and an ordinary bridge tap; the
    XML -> spec parser a resize redefines from gives the same interfaces back."""
    vifs = [VifSpec(kind="hostdev", mac="fa:16:3e:00:00:01", port_id="p1", pci_address="0000:03:10.2", vlan=100),
            VifSpec(kind="direct", mac="fa:16:3e:00:00:02", port_id="p2", source_dev="enp3s0f0v3"),
            VifSpec(bridge="brq0123456789a", tap="tap0123456789a", mac="fa:16:3e:00:00:03")]
    spec = GuestSpec(name="instance-sriov", uuid="3f2c1a9e-0000-4000-8000-000000000003", vcpus=1, memory_mb=256,
                     disks=[DiskSpec(path="/var/lib/egret/instances/z/disk", target="vda")], vifs=vifs,
                     console_log="/var/lib/egret/instances/z/console.log")
    xml = domain_xml(spec, HOST) + "\n"
    path = GOLDEN / "sriov-interfaces.xml"
    if os.environ.get("EGRET_UPDATE_GOLDEN"):
        path.write_text(xml)
    assert xml == path.read_text()
    parsed = [vif_from_xml(i) for i in ET.fromstring(xml).findall("./devices/interface")]
    assert parsed == [dataclasses.replace(v, port_id="") for v in vifs]
