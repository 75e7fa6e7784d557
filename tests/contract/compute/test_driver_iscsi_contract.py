"""The compute driver contract for a volume another node exports over iSCSI: a network disk whose CHAP password is
a libvirt secret (defined with the disk, undefined with it), never in the domain's XML.

The domains here are defined, not started: a started guest's QEMU logs in to the target at once, and there is no
target here (the site's end-to-end test, tests/integration/cluster/test_site_cloud.py, has one)."""
from __future__ import annotations

import dataclasses
import types
import uuid
import xml.etree.ElementTree as ET

import pytest
from driver_contract_support import spec_for

from services.compute.actions import spec_from_xml
from services.compute.drivers import base
from services.compute.drivers.fake import FakeDriver
from services.compute.drivers.libvirt.xml import secret_usage

PASSWORD = "chap-" + uuid.uuid4().hex[:12]


def _volume(target="vdb") -> base.DiskSpec:
    iqn = f"iqn.2026-12.dev.egret:attachment-{uuid.uuid4()}"
    return base.DiskSpec(path=f"{iqn}/1", target=target, source_type="network", protocol="iscsi",
                         portal="127.0.0.1:3260", initiator="iqn.2026-12.dev.egret:beta", auth_username="egret-u1",
                         auth_password=PASSWORD, serial="vol-iscsi")


def _secret_held(driver, usage: str) -> bool:
    node = getattr(driver, "node_driver", driver)
    if isinstance(node, FakeDriver):
        return node.secrets.get(usage) == PASSWORD
    import libvirt   # here, not at the top: without libvirt-python the fake's half still runs
    try:
        node.conn.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_ISCSI, usage)
        return True
    except libvirt.libvirtError:
        return False


def _network_disks(driver, name) -> list[ET.Element]:
    tree = ET.fromstring(driver.xml(name, inactive=True))
    return [d for d in tree.findall("./devices/disk") if d.get("type") == "network"]


@pytest.fixture
def defined(driver, workdir, tiny_guest):
    spec = spec_for(driver, workdir, tiny_guest, f"iscsi{uuid.uuid4().hex[:4]}")
    driver.define(spec)
    yield spec
    driver.destroy(spec.name)


def test_a_volume_over_iscsi_attaches_as_a_network_disk_and_its_secret_goes_with_it(driver, defined):
    volume = _volume()
    driver.attach_disk(defined.name, volume)
    assert _secret_held(driver, secret_usage(volume))
    text = driver.xml(defined.name, inactive=True)
    assert PASSWORD not in text
    [disk] = _network_disks(driver, defined.name)
    source = disk.find("source")
    assert (source.get("protocol"), source.get("name")) == ("iscsi", volume.path)
    assert (source.find("host").get("name"), source.find("host").get("port")) == ("127.0.0.1", "3260")
    assert source.find("initiator/iqn").get("name") == volume.initiator
    auth = source.find("auth") if source.find("auth") is not None else disk.find("auth")
    assert auth.get("username") == "egret-u1"
    assert auth.find("secret").get("usage") == secret_usage(volume) and auth.find("secret").get("type") == "iscsi"
    assert disk.find("target").get("dev") == "vdb"
    driver.detach_disk(defined.name, "vdb")
    assert _network_disks(driver, defined.name) == []
    assert not _secret_held(driver, secret_usage(volume))


def test_a_definition_with_a_volume_over_iscsi_reads_back_and_keeps_its_secret(driver, workdir, tiny_guest):
    """Resize on one node reads the definition back (no password there) and defines it anew over itself: the
    node's secret stays; destroying the domain undefines it."""
    volume = _volume()
    spec = spec_for(driver, workdir, tiny_guest, "iscsidef")
    spec = dataclasses.replace(spec, disks=spec.disks + [volume])
    driver.define(spec)
    try:
        assert _secret_held(driver, secret_usage(volume)) and PASSWORD not in driver.xml(spec.name)
        inst = types.SimpleNamespace(domain_name=spec.name, id=spec.uuid, project_id="p-iscsi", name="iscsidef")
        again = spec_from_xml(driver.xml(spec.name), inst, {"vcpus": 1, "ram": 192})
        assert again.disks[1] == dataclasses.replace(volume, auth_password=None)
        driver.define(again)
        assert _secret_held(driver, secret_usage(volume))
        assert len(_network_disks(driver, spec.name)) == 1
        assert driver.power_state(spec.name) == base.SHUTDOWN
    finally:
        driver.destroy(spec.name)
    assert spec.name not in driver.list_domains()
    assert not _secret_held(driver, secret_usage(volume))
