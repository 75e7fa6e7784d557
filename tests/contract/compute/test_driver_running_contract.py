"""The compute driver contract on one running guest: NIC hot-plug, suspend/resume, console tails, redefinition."""
from __future__ import annotations

import subprocess
import types
import uuid
import xml.etree.ElementTree as ET

import pytest
from driver_contract_support import spec_for, wait

from appliance.testing.guest import BOOT_MARKER
from services.compute.actions import spec_from_xml
from services.compute.drivers import base
from services.compute.drivers.fake import FakeDriver


@pytest.fixture(scope="module")
def bridge(driver, run_prefix):
    """A Linux bridge for the guest's NICs (libvirt plugs their taps into it; the fake plugs nothing)."""
    name = f"{run_prefix}br"
    if isinstance(driver, FakeDriver):
        yield name
        return
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    subprocess.run(["ip", "link", "set", name, "up"], check=True)
    yield name
    subprocess.run(["ip", "link", "del", name], check=False)


def _vif(bridge, run_prefix, n) -> base.VifSpec:
    return base.VifSpec(bridge=bridge, tap=f"{run_prefix}t{n}", mac=f"fa:16:3e:00:00:{n:02x}", port_id=f"port-{n}")


@pytest.fixture(scope="module")
def running(driver, workdir, tiny_guest, bridge, run_prefix):
    """The one guest every check here shares (each real boot costs seconds)."""
    spec = spec_for(driver, workdir, tiny_guest, "running", vifs=[_vif(bridge, run_prefix, 1)])
    driver.spawn(spec)
    assert wait(lambda: BOOT_MARKER in driver.console_log(spec.uuid)), driver.console_log(spec.uuid)
    yield spec
    driver.destroy(spec.name)


def _macs(driver, name, inactive=False) -> list:
    tree = ET.fromstring(driver.xml(name, inactive=inactive))
    return [m.get("address") for m in tree.findall("./devices/interface/mac")]


def test_host_caps_are_cached_once_known_and_asked_again_on_refresh(driver):
    caps = driver.host_caps()
    assert driver.cached_caps() == caps
    # the same node, asked again (a capacity refresh): what is cached now is the fresh answer
    fresh = driver.refresh_caps()
    assert (fresh.hostname, fresh.cpus, fresh.domain_type) == (caps.hostname, caps.cpus, caps.domain_type)
    assert driver.cached_caps() == fresh


def test_console_log_tails_and_missing_logs(driver, running, workdir):
    whole = driver.console_log(running.uuid)
    assert BOOT_MARKER in whole
    tail = driver.console_log(running.uuid, lines=2)
    assert tail and len(tail.splitlines()) <= 2 and tail in driver.console_log(running.uuid)
    assert driver.console_log(running.uuid, lines=0) == ""
    assert driver.console_log(str(uuid.uuid4())) == ""         # a server without a log yet


def test_nics_plug_and_unplug_on_a_running_guest(driver, running, bridge, run_prefix):
    assert _macs(driver, running.name) == [running.vifs[0].mac]
    extra = _vif(bridge, run_prefix, 2)
    driver.attach_vif(running.name, extra)
    assert extra.mac in _macs(driver, running.name)
    driver.detach_vif(running.name, extra)
    # gone from the definition at once; the running guest lets go when it acknowledges the unplug
    assert _macs(driver, running.name, inactive=True) == [running.vifs[0].mac]
    with pytest.raises(base.NotFound):             # the manager treats a NIC already gone as detached
        driver.detach_vif(running.name, _vif(bridge, run_prefix, 3))
    assert driver.power_state(running.name) == base.RUNNING


def test_suspend_keeps_the_guest_and_resume_continues_it(driver, running):
    boots = driver.console_log(running.uuid).count(BOOT_MARKER)
    with pytest.raises(base.DriverError):          # only a suspended guest can be resumed
        driver.resume(running.name)
    driver.suspend(running.name)
    assert driver.power_state(running.name) == base.SUSPENDED
    assert running.name in driver.list_domains()
    with pytest.raises(base.DriverError):
        driver.suspend(running.name)
    driver.resume(running.name)
    assert driver.power_state(running.name) == base.RUNNING
    assert driver.console_log(running.uuid).count(BOOT_MARKER) == boots     # continued, not rebooted


def test_a_definition_read_back_redefines_the_same_devices_with_a_new_flavor(driver, workdir, tiny_guest, bridge,
                                                                            run_prefix):
    """Resize on one host reads the live definition back (actions.spec_from_xml) and defines it anew."""
    volume = base.DiskSpec(path=str(workdir / "resize-vol.raw"), target="vdb", format="raw", serial="vol-resize")
    spec = spec_for(driver, workdir, tiny_guest, "resize", vifs=[_vif(bridge, run_prefix, 4)],
                    disks=[base.DiskSpec(path=str(workdir / "resize.qcow2"), target="vda"), volume])
    (workdir / "resize-vol.raw").write_bytes(b"\0" * (1 << 20))
    driver.define(spec)
    try:
        inst = types.SimpleNamespace(domain_name=spec.name, id=spec.uuid, project_id="p-resize", name="resize")
        again = spec_from_xml(driver.xml(spec.name), inst, {"vcpus": 2, "ram": 384})
        assert again.disks == spec.disks and [(v.bridge, v.tap, v.mac) for v in again.vifs] == \
            [(v.bridge, v.tap, v.mac) for v in spec.vifs]
        assert (again.kernel, again.initrd, again.cmdline, again.console_log) == \
            (spec.kernel, spec.initrd, spec.cmdline, spec.console_log)
        driver.destroy(spec.name)
        driver.define(again)
        tree = ET.fromstring(driver.xml(spec.name))
        memory = tree.find("memory")
        kib = int(memory.text) * {"KiB": 1, "MiB": 1024}[memory.get("unit", "KiB")]   # libvirt answers in KiB
        assert tree.findtext("vcpu") == "2" and kib == 384 * 1024
        assert driver.power_state(spec.name) == base.SHUTDOWN
    finally:
        driver.destroy(spec.name)
