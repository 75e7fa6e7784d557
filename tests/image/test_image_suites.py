"""Repo test suites run INSIDE one booted image guest, whose Debian kernel has device-mapper, 802.1Q and the TSN
qdiscs: the volume driver contract on every backend (LVM thin included) and the network driver contract + L2 data
plane (VLAN and TSN schedules included) on the installed Egret, with per-test outcomes returned to this host test as
JUnit XML over a writable 9p share."""
from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from egret_qemu import Guest

REPO = Path(__file__).resolve().parents[2]

# what runs inside the guest (paths relative to the repo root, shared read-only)
SUITES = {
    "storage": ["tests/contract/storage/test_storage_volume_driver.py"],
    # the other L2 tests need nothing this host lacks and run there; in here only what needs 802.1Q
    "network": ["tests/contract/network/test_network_driver_contract.py",
                "tests/integration/network/test_network_dp_l2.py::test_vlan_network",
                "tests/integration/network/test_network_tsn.py"],
}
# test-only Python packages the image does not carry: pytest and its requirements, copied from this venv
PYTEST_DISTS = ["pytest", "pluggy", "iniconfig", "packaging", "pygments"]
# what the storage and network drivers run, so the product image must carry it (the suites stage only test tools)
PRODUCT_TOOLS = ["lvcreate", "lvs", "thin_check", "qemu-img", "losetup", "dnsmasq", "nft", "tc", "ip", "arping"]

# The early hook runs before the services start, on an otherwise idle guest (they would only compete for the
# TCG vCPUs; the suites do not need them). Code under test: the installed /opt/egret, unless the host asks for
# the repo's source (EGRET_SUITES_CODE=repo, to iterate on a driver fix without rebuilding the image).
HOOK = r"""
modprobe 9pnet_virtio 2>/dev/null
mkdir -p /mnt/repo /mnt/work
mountpoint -q /mnt/repo || mount -t 9p -o trans=virtio,version=9p2000.L,ro egretrepo /mnt/repo
mountpoint -q /mnt/work || mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 egretwork /mnt/work
sh /mnt/work/run.sh
"""

# one pytest run (its start-up alone costs tens of seconds under TCG); -P keeps the cwd (the repo) off sys.path,
# so `services` and `appliance` come from /opt/egret
RUNNER = r"""
set -u
W=/mnt/work
export PYTHONDONTWRITEBYTECODE=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PATH=$W/bin:/opt/egret/bin:$PATH
export PYTHONPATH=$W/site{extra_path}
echo "kernel $(uname -r) dm=$(test -e /dev/mapper/control && echo yes || echo no) code={code}"
/opt/egret/bin/python -P -c 'import services; print("services from", services.__file__)'
echo "missing tools:$(for t in {tools}; do command -v $t >/dev/null || printf ' %s' $t; done)"
mkdir -p /var/lib/egret/suites-tmp && cd /mnt/repo
start=$(date +%s)
/opt/egret/bin/python -P -m pytest -p no:cacheprovider -o junit_logging=all -o junit_family=xunit1 -rA -v \
  --basetemp=/var/lib/egret/suites-tmp/run --junitxml=$W/results/suites.xml {files} > $W/results/suites.log 2>&1
rc=$?
echo "suites rc=$rc seconds=$(( $(date +%s) - start )) $(tail -n 1 $W/results/suites.log)"
echo suites-done
"""


def stage_pytest(site: Path) -> None:
    """Copy pytest and its requirements (pure Python, same CPython 3.11 as the guest) from this venv."""
    for name in PYTEST_DISTS:
        dist = importlib.metadata.distribution(name)
        for f in dist.files or []:
            src = Path(dist.locate_file(f))
            if f.parts[0] in ("..", "bin") or "__pycache__" in f.parts or not src.is_file():
                continue
            dst = site / f
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


class SuiteGuest(Guest):
    """A guest with the repo shared read-only and a writable work share (runner, staged tools, results)."""

    def __init__(self, *a, work: Path, **kw):
        super().__init__(*a, **kw)
        self.work = work

    def command(self):
        return super().command() + [
            "-virtfs", f"local,path={REPO},mount_tag=egretrepo,security_model=none,readonly=on",
            "-virtfs", f"local,path={self.work},mount_tag=egretwork,security_model=none"]


def parse_junit(path: Path) -> dict[str, dict]:
    """JUnit XML → {"file::test[param]": {"outcome": passed|failed|error|skipped, "text": ..., "time": s}}."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('file') or case.get('classname')}::{case.get('name')}"
        outcome, text = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                text = (child.get("message") or "") + "\n" + (child.text or "")
                break
        for child in case:
            if child.tag in ("system-out", "system-err") and child.text and outcome in ("failed", "error"):
                text += f"\n--- {child.tag}\n{child.text[-4000:]}"
        out[name] = {"outcome": outcome, "text": text, "time": float(case.get("time") or 0)}
    return out


@pytest.fixture(scope="module")
def suites(image, image_tmp):
    tmp = image_tmp / "suites"
    work = tmp / "work"
    (work / "results").mkdir(parents=True)
    (work / "bin").mkdir()
    stage_pytest(work / "site")
    # byte-compiled here (same CPython 3.11 as the guest): compiling pytest under TCG on every run costs a minute
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(work / "site")], check=True)
    # the "VMs" of the network tests run busybox udhcpc, like a cloud image; a test-only tool, so it is staged
    # here (the host's static busybox) rather than added to the product image
    busybox = shutil.which("busybox")
    assert busybox, "the image tests need the host's static busybox (apt busybox-static)"
    shutil.copy2(busybox, work / "bin" / "busybox")
    code = os.environ.get("EGRET_SUITES_CODE", "installed")
    (work / "run.sh").write_text(RUNNER.format(files=" ".join(f for files in SUITES.values() for f in files),
                                               tools=" ".join(PRODUCT_TOOLS),
                                               code=code, extra_path=":/mnt/repo" if code == "repo" else ""))
    g = SuiteGuest(image["raw"], tmp, "suites", mem=2048, smp=2, work=work)
    g.set_hook("early", HOOK)
    started = time.monotonic()
    g.start()
    try:
        done = g.wait_for(r"EGRET-HOOK early: suites-done", 1500)
        print(f"guest suites: boot + run {time.monotonic() - started:.0f}s", file=sys.stderr)
        summary = [line.rstrip() for line in re.findall(
            r"EGRET-HOOK early: (suites rc=\d+ seconds=\d+.*|kernel .*|services from .*|missing tools:.*)",
            g.text()[:done.end()])]
        xml, log = work / "results" / "suites.xml", work / "results" / "suites.log"
        output = log.read_text(errors="replace") if log.exists() else g.tail()
        rc = re.search(r"suites rc=(\d+)", "\n".join(summary))
        assert xml.exists() and rc, f"no results from the guest's pytest run:\n{output[-6000:]}"
        cases = parse_junit(xml)
        # each suite's cases, by the file they come from
        results = {suite: {"cases": {n: c for n, c in cases.items() if n.split("::")[0] in
                                     {f.split("::")[0] for f in files}}, "rc": int(rc.group(1)), "log": output}
                   for suite, files in SUITES.items()}
        yield {"guest": g, "results": results, "summary": summary, "work": work}
    finally:
        g.stop()
        # image_tmp is removed at the end of the session: keep the guest's pytest logs, JUnit XML and console
        keep = REPO / "artifacts" / "image-suites"
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(work / "results", keep)
        if g.log.exists():
            shutil.copy2(g.log, keep / "serial.log")
        print(f"--- guest suites' logs, JUnit XML and serial log: {keep}", file=sys.stderr)


def report(cases: dict) -> str:
    return "\n".join(f"{c['outcome']:8} {n}" for n, c in cases.items())


def assert_all_passed(result: dict, what: str) -> dict:
    cases = result["cases"]
    bad = {n: c for n, c in cases.items() if c["outcome"] in ("failed", "error")}
    assert not bad, f"{what} inside the guest:\n" + "\n\n".join(f"=== {n} ({c['outcome']})\n{c['text']}"
                                                                for n, c in bad.items())
    assert cases, f"no {what} tests ran in the guest (pytest rc={result['rc']}):\n{result['log'][-6000:]}"
    return cases


def test_guest_runs_the_installed_code_on_a_kernel_with_device_mapper(suites):
    lines = "\n".join(suites["summary"])
    assert re.search(r"kernel \S+ dm=yes", lines), lines
    assert "missing tools:" in suites["summary"], lines
    # pytest's own verdict: 0 all passed, 1 some failed (the tests below name them); anything else is a
    # collection, usage or internal error that leaves no failed test case behind
    rc = suites["results"]["storage"]["rc"]
    assert rc in (0, 1), f"pytest rc={rc} in the guest:\n{suites['results']['storage']['log'][-6000:]}"
    if os.environ.get("EGRET_SUITES_CODE", "installed") == "installed":
        assert "services from /opt/egret/" in lines, lines
    print(lines)


def test_volume_driver_contract_on_every_backend_in_guest(suites):
    cases = assert_all_passed(suites["results"]["storage"], "volume driver contract")
    print(report(cases))
    lvm = {n: c for n, c in cases.items() if n.endswith("[lvm]")}
    # every contract test, on real device-mapper thin provisioning, passed (a skip here would hide a gap)
    assert len(lvm) >= 5 and all(c["outcome"] == "passed" for c in lvm.values()), report(lvm)
    for backend in ("fake", "file-qcow2", "file-raw"):
        assert any(n.endswith(f"[{backend}]") and c["outcome"] == "passed" for n, c in cases.items()), backend


def test_network_driver_contract_and_l2_in_guest(suites):
    cases = assert_all_passed(suites["results"]["network"], "network driver contract / L2 data plane")
    print(report(cases))
    linux = [c for n, c in cases.items() if n.endswith("[linux]")]
    assert linux and all(c["outcome"] == "passed" for c in linux), report(cases)


def test_vlan_provider_network_passes_in_guest(suites):
    every = suites["results"]["network"]["cases"]
    cases = {n: c for n, c in every.items() if n.endswith("::test_vlan_network")}
    assert len(cases) == 1, report(every)
    (case,) = cases.values()
    # the guest kernel has 802.1Q: the test must have run for real, not skipped
    assert case["outcome"] == "passed", case["text"]


def test_tsn_schedules_pass_in_guest(suites):
    """taprio/mqprio with etf and cbs, and VLAN priority maps, through the network API, compared with what iproute2
    makes of the same settings, on the guest's kernel; a DSCP mark's class leaves as the 802.1Q PCP."""
    every = suites["results"]["network"]["cases"]
    cases = {n: c for n, c in every.items()
             if "test_network_tsn.py::" in n or "::test_tsn_schedule_on_the_physical_interface[" in n}
    assert len(cases) == 8, report(every)
    # the guest kernel has the TSN qdiscs: every one must have run for real, not skipped
    assert all(c["outcome"] == "passed" for c in cases.values()), report(cases)
