"""SR-IOV interfaces across the driver contract: a guest with a VF given whole (hostdev, VLAN-tagged) and a macvtap
on a VF's netdev is defined (not started: the VFs need not exist to define) on the fake, on real libvirt and
through a node agent; the definition read back parses to the same interfaces and redefines (a resize in place)."""
from __future__ import annotations

import types
import xml.etree.ElementTree as ET

import pytest
from driver_contract_support import spec_for

from services.compute.actions import spec_from_xml
from services.compute.drivers import base

VIFS = [base.VifSpec(kind="hostdev", mac="fa:16:3e:00:01:01", port_id="p-vf", pci_address="0000:03:10.2", vlan=100),
        base.VifSpec(kind="direct", mac="fa:16:3e:00:01:02", port_id="p-mv", source_dev="egretvf0v3")]


def _nics(driver, name):
    return ET.fromstring(driver.xml(name)).findall("./devices/interface")


def test_hostdev_and_macvtap_interfaces_define_and_read_back(driver, workdir, tiny_guest):
    spec = spec_for(driver, workdir, tiny_guest, "sriov", vifs=list(VIFS))
    driver.define(spec)
    try:
        assert spec.name in driver.list_domains()
        hostdev, direct = _nics(driver, spec.name)   # the hypervisor's own reading of the definition
        assert (hostdev.get("type"), hostdev.get("managed")) == ("hostdev", "yes")
        addr = hostdev.find("source/address")
        assert {k: addr.get(k) for k in ("type", "domain", "bus", "slot", "function")} == \
            {"type": "pci", "domain": "0x0000", "bus": "0x03", "slot": "0x10", "function": "0x2"}
        assert hostdev.find("vlan/tag").get("id") == "100"
        assert hostdev.find("mac").get("address") == "fa:16:3e:00:01:01"
        assert direct.get("type") == "direct"
        assert (direct.find("source").get("dev"), direct.find("source").get("mode")) == ("egretvf0v3", "passthrough")
        assert direct.find("model").get("type") == "virtio"
        inst = types.SimpleNamespace(domain_name=spec.name, id=spec.uuid, project_id="p-sriov", name="sriov")
        again = spec_from_xml(driver.xml(spec.name), inst, {"vcpus": 1, "ram": 384})
        assert again.vifs == [base.VifSpec(**{**v.__dict__, "port_id": ""}) for v in VIFS]
        driver.destroy(spec.name)
        driver.define(again)   # a resize in place: the VF and the macvtap survive it
        assert [ET.tostring(n) for n in _nics(driver, spec.name)] == [ET.tostring(hostdev), ET.tostring(direct)]
        memory = ET.fromstring(driver.xml(spec.name)).find("memory")
        assert int(memory.text) * {"KiB": 1, "MiB": 1024}[memory.get("unit", "KiB")] == 384 * 1024
    finally:
        driver.destroy(spec.name)
    assert spec.name not in driver.list_domains()


@pytest.mark.parametrize("vif", [
    base.VifSpec(kind="hostdev", mac="fa:16:3e:00:01:03", pci_address="0000:03:10.2"),
    base.VifSpec(kind="direct", mac="fa:16:3e:00:01:04", source_dev="egretvf0v4"),
])
def test_a_defined_guest_takes_and_gives_back_a_vf_interface(driver, workdir, tiny_guest, vif):
    spec = spec_for(driver, workdir, tiny_guest, f"sriov-{vif.kind}")
    driver.define(spec)
    try:
        before = len(_nics(driver, spec.name))
        driver.attach_vif(spec.name, vif)
        nics = _nics(driver, spec.name)
        assert len(nics) == before + 1 and nics[-1].get("type") == vif.kind
        driver.detach_vif(spec.name, vif)
        assert len(_nics(driver, spec.name)) == before
        with pytest.raises(base.NotFound):
            driver.detach_vif(spec.name, vif)
    finally:
        driver.destroy(spec.name)
