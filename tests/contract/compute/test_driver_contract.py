"""One contract for the compute drivers: the fake and the real libvirt driver (QEMU domains on qemu:///system)."""
from __future__ import annotations

import dataclasses
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from driver_contract_support import spec_for as _spec, wait as _wait

from appliance.testing.guest import BOOT_MARKER
from services.compute.drivers import base


def _rich_host(driver):
    return dataclasses.replace(driver.host_caps(), dedicated_cpus=[0, 1], hugepages={2048: 1024}, numa_nodes=2)


def test_host_caps_names_a_domain_type(driver):
    caps = driver.host_caps()
    assert caps.domain_type in ("kvm", "qemu", "fake")
    assert caps.domain_type_reason
    assert caps.cpus >= 1 and caps.memory_mb > 0
    # SMT cores: disjoint groups of two or more of the host's CPUs ([] for one thread per core)
    threads = [c for core in caps.thread_siblings for c in core]
    assert all(len(core) > 1 for core in caps.thread_siblings) and len(threads) == len(set(threads))
    assert all(isinstance(c, int) and 0 <= c < caps.cpus for c in threads), caps.thread_siblings


def test_extra_specs_produce_pinning_hugepages_realtime_numa(driver, workdir, tiny_guest, monkeypatch):
    rich = _rich_host(driver)
    monkeypatch.setattr(driver, "host_caps", lambda: rich)
    specs = {"hw:cpu_policy": "dedicated", "hw:mem_page_size": "2MB", "hw:cpu_realtime": "yes",
             "hw:cpu_realtime_mask": "^0", "hw:numa_nodes": "2"}
    spec = _spec(driver, workdir, tiny_guest, "xml", vcpus=2, memory_mb=512, extra_specs=specs)
    driver.define(spec)
    try:
        tree = ET.fromstring(driver.xml(spec.name))  # read back from the hypervisor's definition
        pins = {p.get("vcpu"): p.get("cpuset") for p in tree.findall("./cputune/vcpupin")}
        assert pins == {"0": "0", "1": "1"}
        sched = tree.find("./cputune/vcpusched")
        assert sched.get("vcpus") == "1" and sched.get("scheduler") == "fifo"
        page = tree.find("./memoryBacking/hugepages/page")
        assert page.get("size") == "2048" and page.get("unit") == "KiB"
        cells = tree.findall("./cpu/numa/cell")
        assert [(c.get("id"), c.get("cpus")) for c in cells] == [("0", "0"), ("1", "1")]
        assert tree.get("type") in ("qemu", "kvm", "fake")
        # SMBIOS as Nova writes it: cloud-init's ds-identify looks for "OpenStack Nova" on x86
        smbios = {e.get("name"): e.text for e in tree.findall("./sysinfo[@type='smbios']/system/entry")}
        assert smbios["product"] == "OpenStack Nova" and smbios["uuid"] == spec.uuid, smbios
        assert tree.find("./os/smbios").get("mode") == "sysinfo"
    finally:
        driver.destroy(spec.name)
    assert spec.name not in driver.list_domains()


@pytest.mark.parametrize("extra, vcpupins, emulator", [
    # a real-time guest's emulator threads run on its housekeeping vCPU's CPU, never on a real-time one
    ({"hw:cpu_realtime": "yes", "hw:cpu_realtime_mask": "^0"}, {"0": "3", "1": "1"}, "3"),
    # isolate: one more dedicated CPU, the claim's last, for them alone
    ({"hw:emulator_threads_policy": "isolate"}, {"0": "3", "1": "1"}, "0"),
    # share: the host's shared (housekeeping) CPUs
    ({"hw:emulator_threads_policy": "share"}, {"0": "3", "1": "1"}, "2"),
])
def test_emulator_threads_placement(driver, workdir, tiny_guest, monkeypatch, extra, vcpupins, emulator):
    """The claim's CPUs (3, 1 and, for isolate, 0) are what the guest gets; libvirt accepts the definition."""
    host = dataclasses.replace(driver.host_caps(), cpus=4, dedicated_cpus=[0, 1, 3])
    monkeypatch.setattr(driver, "host_caps", lambda: host)
    specs = {"hw:cpu_policy": "dedicated", **extra}
    spec = _spec(driver, workdir, tiny_guest, "emu", vcpus=2, memory_mb=128, extra_specs=specs)
    spec = dataclasses.replace(spec, cpuset=[3, 1, 0] if "isolate" in str(extra) else [3, 1])
    driver.define(spec)
    try:
        tree = ET.fromstring(driver.xml(spec.name))
        assert {p.get("vcpu"): p.get("cpuset") for p in tree.findall("./cputune/vcpupin")} == vcpupins
        assert tree.find("./cputune/emulatorpin").get("cpuset") == emulator
    finally:
        driver.destroy(spec.name)


@pytest.mark.parametrize("specs,needle", [
    ({"hw:mem_page_size": "2MB"}, "huge pages"),
    ({"hw:cpu_policy": "dedicated"}, "cpu_dedicated_set"),
    ({"hw:cpu_realtime": "yes"}, "requires hw:cpu_policy=dedicated"),
    ({"hw:numa_nodes": "4"}, "NUMA"),
])
def test_extra_specs_the_host_cannot_give_are_refused(driver, specs, needle, monkeypatch):
    bare = dataclasses.replace(driver.host_caps(), dedicated_cpus=[], hugepages={}, numa_nodes=1)
    monkeypatch.setattr(driver, "host_caps", lambda: bare)
    with pytest.raises(base.UnsupportedSpec, match=needle):
        driver.check_extra_specs(specs, 4, 512)


def test_a_node_lists_the_domains_named_with_its_prefix(driver, workdir, tiny_guest):
    # a site names a server's domain after its node's prefix; the node's list_domains sees only its own
    prefix = driver.domain_prefix()
    assert isinstance(prefix, str) and prefix
    spec = _spec(driver, workdir, tiny_guest, "pfx")
    assert spec.name.startswith(prefix)
    driver.define(spec)
    try:
        listed = driver.list_domains()
        assert spec.name in listed and all(name.startswith(prefix) for name in listed), listed
    finally:
        driver.destroy(spec.name)
    assert spec.name not in driver.list_domains()


def test_guest_lifecycle(driver, workdir, tiny_guest):
    spec = _spec(driver, workdir, tiny_guest, "life")
    driver.spawn(spec)
    try:
        assert spec.name in driver.list_domains()
        assert _wait(lambda: BOOT_MARKER in driver.console_log(spec.uuid)), \
            driver.console_log(spec.uuid)
        assert driver.power_state(spec.name) == base.RUNNING
        assert driver.console_log(spec.uuid, lines=0) == ""

        volume = workdir / "vol.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(volume), "16M"], check=True)
        driver.attach_disk(spec.name, base.DiskSpec(path=str(volume), target="vdb", serial="vol-1"))
        targets = [t.get("dev") for t in ET.fromstring(driver.xml(spec.name)).findall("./devices/disk/target")]
        assert "vdb" in targets
        driver.detach_disk(spec.name, "vdb")
        with pytest.raises(base.NotFound):
            driver.detach_disk(spec.name, "vdz")

        driver.pause(spec.name)
        assert driver.power_state(spec.name) == base.PAUSED
        driver.unpause(spec.name)
        assert driver.power_state(spec.name) == base.RUNNING

        driver.power_off(spec.name)
        assert _wait(lambda: driver.power_state(spec.name) == base.SHUTDOWN, 15)
        with pytest.raises(base.DriverError):
            driver.pause(spec.name)
        def booted(times):
            return _wait(lambda: driver.console_log(spec.uuid).count(BOOT_MARKER) >= times, 90)

        driver.power_on(spec.name)
        assert driver.power_state(spec.name) == base.RUNNING
        assert booted(2), driver.console_log(spec.uuid)
        driver.reboot(spec.name, hard=True)
        assert driver.power_state(spec.name) == base.RUNNING
        assert booted(3), driver.console_log(spec.uuid)
        driver.reboot(spec.name, hard=False, timeout=1)     # the tiny guest ignores ACPI: destroyed at 1 s
        assert driver.power_state(spec.name) == base.RUNNING
        assert booted(4), driver.console_log(spec.uuid)
    finally:
        driver.destroy(spec.name)
    assert spec.name not in driver.list_domains()
    assert driver.power_state(spec.name) == base.NOSTATE
    driver.destroy(spec.name)  # idempotent
    with pytest.raises(base.NotFound):
        driver.power_on(spec.name)


def test_every_driver_method_the_managers_call_is_in_this_contract():
    """A guard: a manager calling a new driver method must bring its contract test along."""
    root = Path(__file__).resolve().parents[3]
    called = set()
    for path in (root / "services" / "compute").rglob("*.py"):
        if "drivers" in path.parts:
            continue
        called |= set(re.findall(r"\bdriver\.([a-z_]+)\(", path.read_text()))
    here = Path(__file__).parent
    tested = set()
    for path in here.glob("test_driver_*.py"):
        tested |= set(re.findall(r"\bdriver\.([a-z_]+)\(", path.read_text()))
    assert called and called <= tested, sorted(called - tested)
