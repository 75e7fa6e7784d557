"""The real-time profile: its kernel command line, the check against a running system (a tree of /proc and /sys
written here, and this machine's own), the fixes that need no reboot, and compute's pinned CPUs following it."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from appliance import realtime, realtimecli
from appliance.image import slots
from appliance.testing.plugin import make_settings

PROFILE = {**realtime.DEFAULTS, "enabled": True, "isolated_cpus": "2-3", "hugepages_2m": 512}
MATCHING_CMDLINE = ("BOOT_IMAGE=/vmlinuz-6.1.0-rt-amd64 root=/dev/vda2 isolcpus=managed_irq,domain,2-3 "
                    "nohz_full=2-3 rcu_nocbs=2-3 irqaffinity=0-1 hugepagesz=2M hugepages=512")


def system(tmp_path: Path, *, rt="sysfs", cmdline=MATCHING_CMDLINE, isolated="2-3", irq="3", pages=512,
           governor="performance") -> Path:
    """rt: "sysfs" (the RT patch set's /sys/kernel/realtime), "version" (only the version string says it), False."""
    files = {"proc/sys/kernel/version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)","sys/devices/system/cpu/possible": "0-3", "proc/cmdline": cmdline,
             "sys/devices/system/cpu/isolated": isolated, "proc/irq/default_smp_affinity": irq,
             "proc/irq/24/smp_affinity": "f", "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages": str(pages)}
    if rt == "sysfs":
        files["sys/kernel/realtime"] = "1"
    elif rt == "version":
        files["proc/sys/kernel/version"] = "#1 SMP PREEMPT_RT Debian 6.1.176-1 (2026-07-02)"
    for cpu in range(4):
        files[f"sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor"] = governor
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text + "\n")
    return tmp_path


def test_cpu_lists():
    assert realtime.parse_cpulist("0-2,5,\n") == [0, 1, 2, 5]
    assert realtime.cpulist([5, 0, 1, 2, 7]) == "0-2,5,7"
    for bad in ("3-1", "x", "1-"):
        with pytest.raises(ValueError):
            realtime.parse_cpulist(bad)


def test_kernel_arguments():
    assert realtime.kernel_args(PROFILE, 4) == MATCHING_CMDLINE.split()[2:]
    assert realtime.kernel_args({**PROFILE, "isolated_cpus": "", "hugepages_2m": 0, "hugepages_1g": 2}, 4) == [
        "hugepagesz=1G", "hugepages=2"]


def test_a_matching_system_matches_after_the_runtime_fixes(tmp_path):
    root = system(tmp_path, irq="f", governor="powersave")
    bad = {f.item: f for f in realtime.check(PROFILE, root) if not f.ok}
    # IRQs and the governor are fixed in place; nothing else differs, so no reboot is needed
    assert set(bad) == {"IRQ default affinity", "CPU governor"} and not any(f.reboot for f in bad.values())
    changed = realtime.apply_runtime(PROFILE, root)
    assert "proc/irq/default_smp_affinity" in changed and "proc/irq/24/smp_affinity" in changed
    assert (root / "proc/irq/24/smp_affinity").read_text() == "3"       # CPUs 0-1
    assert (root / "sys/devices/system/cpu/cpu3/cpufreq/scaling_governor").read_text() == "performance"
    assert realtime.status_lines(PROFILE, root) == ["Real-time profile: matches the running system"]


def test_the_generic_kernel_and_a_missing_argument_need_a_reboot(tmp_path):
    root = system(tmp_path, rt=False, cmdline=MATCHING_CMDLINE.replace(" nohz_full=2-3", ""), pages=0)
    lines = realtime.status_lines(PROFILE, root)
    assert lines[0] == "Real-time profile: does NOT match the running system"
    assert "  PREEMPT_RT kernel: want yes, have no  (needs a reboot)" in lines
    assert "  kernel argument nohz_full: want nohz_full=2-3, have absent  (needs a reboot)" in lines
    assert "  huge pages 2048kB: want 512, have 0  (needs a reboot)" in lines


def test_this_machine_is_checked_as_it_is():
    """The build machines run a generic kernel without isolated CPUs (DESIGN.md §9): the check must say so."""
    cmdline = Path("/proc/cmdline").read_text().split()
    found = {f.item: f for f in realtime.check(PROFILE)}
    assert found["PREEMPT_RT kernel"].ok == (Path("/sys/kernel/realtime").exists()
                                             and Path("/sys/kernel/realtime").read_text().strip() == "1")
    assert found["kernel argument nohz_full"].ok == ("nohz_full=2-3" in cmdline)


def test_pinned_guests_get_the_isolated_cpus(tmp_path):
    from services.compute.drivers.libvirt.driver import LibvirtDriver
    settings = make_settings(tmp_path / "state", service={"realtime": {"enabled": True, "isolated_cpus": "2-3"}})
    assert LibvirtDriver.from_settings(settings).section["cpu_dedicated_set"] == "2-3"
    settings = make_settings(tmp_path / "s2", service={"realtime": {"enabled": True, "isolated_cpus": "2-3"},
                                                       "compute": {"cpu_dedicated_set": "3"}})
    assert LibvirtDriver.from_settings(settings).section["cpu_dedicated_set"] == "3"      # the operator's wins


def test_apply_puts_the_arguments_into_the_boot_entries_and_a_reboot_makes_it_match(tmp_path, capsys):
    settings = make_settings(tmp_path / "state", service={"realtime": {
        "enabled": True, "isolated_cpus": "2-3", "hugepages_2m": 512}})
    root = system(tmp_path / "root", rt=False, cmdline="BOOT_IMAGE=/vmlinuz root=/dev/vda2", irq="f", pages=0)
    esp = tmp_path / "esp"
    (esp / "loader" / "entries").mkdir(parents=True)
    entry = esp / "loader" / "entries" / "egret-1-a.conf"
    entry.write_text(slots.entry_text("1.0", "a", "0000", "ttyS0"))
    args = argparse.Namespace(esp=esp, root=root, json=True)

    def run(handler) -> dict:
        assert handler(args, settings) == 0
        return json.loads(capsys.readouterr().out)
    done = run(realtimecli.cmd_realtime_apply)
    assert done["entries_changed"] == ["egret-1-a.conf"] and "proc/irq/24/smp_affinity" in done["runtime_changed"]
    # the slot has no PREEMPT_RT kernel beside its generic one: the entry keeps the generic kernel, and says so
    assert done["entries_without_rt_kernel"] == ["egret-1-a.conf"]
    assert slots.entry_kernel(entry.read_text()) == "generic"
    for name in slots.KERNEL_FILES["rt"]:
        (esp / "EFI/egret/a").mkdir(parents=True, exist_ok=True)
        (esp / "EFI/egret/a" / name).write_bytes(b"rt")
    done = run(realtimecli.cmd_realtime_apply)
    assert done["entries_changed"] == ["egret-1-a.conf"] and done["entries_without_rt_kernel"] == []
    assert "linux /EFI/egret/a/vmlinuz-rt\ninitrd /EFI/egret/a/initrd-rt.img\n" in entry.read_text()
    assert slots.profile_args(entry.read_text()) == done["kernel_args"] == [
        "isolcpus=managed_irq,domain,2-3", "nohz_full=2-3", "rcu_nocbs=2-3", "irqaffinity=0-1", "hugepagesz=2M",
        "hugepages=512"]
    assert done["reboot_needed"] and not done["matches"]
    # "the reboot": the loader joined the entry's options lines, the kernel reserved the pages
    (root / "proc/cmdline").write_text("BOOT_IMAGE=/vmlinuz root=/dev/vda2 " + " ".join(done["kernel_args"]))
    (root / "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages").write_text("512")
    # the entry's kernel now runs: a mainline-style PREEMPT_RT kernel says so only in its version string
    (root / "proc/sys/kernel/version").write_text("#1 SMP PREEMPT_RT Debian 6.1.176-1 (2026-07-02)\n")
    shown = run(realtimecli.cmd_realtime_show)
    assert shown["matches"] and not shown["reboot_needed"], shown["findings"]
    assert run(realtimecli.cmd_realtime_apply)["entries_changed"] == []            # nothing left to do
    # a profile switched off takes its arguments out of the entries again
    off = make_settings(tmp_path / "state2", service={"realtime": {"enabled": False}})
    assert realtimecli.cmd_realtime_apply(args, off) == 0
    assert json.loads(capsys.readouterr().out)["entries_changed"] == ["egret-1-a.conf"]
    assert slots.profile_args(entry.read_text()) == [] and slots.entry_kernel(entry.read_text()) == "generic"
    # no boot entries of ours (a dev machine, NixOS): said so, nothing written
    args.esp, args.json = tmp_path / "none", False
    assert realtimecli.cmd_realtime_apply(args, settings) == 0
    assert "no Egret boot entries under" in capsys.readouterr().out
