"""e2e fixtures: one `egret up` (identity, storage, network, compute) shared by every compute e2e test."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from appliance.manifest import load_manifest
from appliance.testing.cloud import RunningCloud
from appliance.testing.libvirtd import IMAGES, libvirtd, run_prefix, tiny_guest  # noqa: F401

CMDLINE = "console=ttyS0 panic=-1 quiet"


def services_available() -> list[str]:
    units = load_manifest()
    return [s for s in ("identity", "storage", "network", "compute") if any(u.service == s for u in units.values())]


@pytest.fixture(scope="session")
def cloud(libvirtd, run_prefix):  # noqa: F811
    # libvirt's qemu user must traverse to the disks, volumes and kernels: pytest's tmp dirs are 0700
    state = IMAGES / f"egret-e2e-{run_prefix}"
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o755)
    compute = {"domain_prefix": f"{run_prefix}-", "shutdown_timeout": 2, "sync_interval": 3,
               "fault_injection": True}
    network = {"cleanup_on_exit": True, "reconcile_interval": 2}
    c = RunningCloud(state, services=services_available(),
                     extra_env={"EGRET_SERVICE": json.dumps({"compute": compute, "network": network})})
    c.start(timeout=180)
    c.run_prefix = run_prefix

    def finish():
        # servers outlive the service (as VMs should); delete whatever a failed test left, then stop
        try:
            leftovers = c.openstack_json("server", "list", "--all-projects")
        except (AssertionError, ValueError):
            leftovers = []
        for server in leftovers:
            c.openstack("server", "delete", "--wait", server["ID"], check=False, timeout=120)
        c.stop()
        _assert_no_domains_left(run_prefix)
        shutil.rmtree(state, ignore_errors=True)
    _FINISH.append(finish)
    yield c
    if _FINISH:
        _FINISH.pop()()


# The cloud reconciles its data plane every 2 s (a quarter of a core): it stops when the last test of this
# directory is done, not at the end of the session, so the image tests that follow get the whole machine.
_FINISH: list = []
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    result = yield      # the test's own fixtures (which may still use the cloud) are torn down first
    if _FINISH and (nextitem is None or HERE not in Path(nextitem.path).resolve().parents):
        _FINISH.pop()()
    return result


def _assert_no_domains_left(prefix):
    import libvirt
    conn = libvirt.open("qemu:///system")
    try:
        left = [d.name() for d in conn.listAllDomains() if d.name().startswith(prefix + "-")]
        for name in left:
            dom = conn.lookupByName(name)
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    finally:
        conn.close()
    assert not left, f"domains left behind: {left}"


@pytest.fixture(scope="session")
def tiny_image(cloud, tiny_guest):  # noqa: F811
    """The tiny guest in Glance, booted like an AMI: kernel + ramdisk images named by the disk's properties."""
    kernel = cloud.openstack_json("image", "create", "--disk-format", "aki", "--container-format", "aki",
                                  "--file", str(tiny_guest.kernel), "--public", "egret-tiny-kernel")
    ramdisk = cloud.openstack_json("image", "create", "--disk-format", "ari", "--container-format", "ari",
                                   "--file", str(tiny_guest.initrd), "--public", "egret-tiny-ramdisk")
    disk = cloud.openstack_json("image", "create", "--disk-format", "qcow2", "--container-format", "bare",
                                "--file", str(tiny_guest.disk), "--public",
                                "--property", f"kernel_id={kernel['id']}",
                                "--property", f"ramdisk_id={ramdisk['id']}",
                                "--property", f"os_command_line={CMDLINE}", "egret-tiny")
    return disk


def wait_for(predicate, timeout=120.0, step=1.0):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return value


def _net_prefix(state_dir) -> str:
    from appliance.config import Settings
    from services.network.conf import section
    return section(Settings(state_dir=state_dir))["prefix"]


@pytest.fixture(scope="session")
def topology(cloud):
    """An external flat network, a tenant network behind router r1; ext_ns is the outside namespace."""
    if "network" not in services_available():
        pytest.skip("needs the network service in services/manifest.toml")
    osc, js = cloud.openstack, cloud.openstack_json
    js("network", "create", "--external", "--provider-network-type", "flat", "--provider-physical-network",
       "public", "public")
    js("subnet", "create", "--network", "public", "--subnet-range", "203.0.113.0/24", "--no-dhcp", "--gateway",
       "203.0.113.1", "--allocation-pool", "start=203.0.113.10,end=203.0.113.50", "public-sub")
    js("network", "create", "private")
    js("subnet", "create", "--network", "private", "--subnet-range", "10.81.0.0/24", "private-sub")
    js("router", "create", "r1")
    osc("router", "add", "subnet", "r1", "private-sub")
    osc("router", "set", "--external-gateway", "public", "r1")
    js("security", "group", "rule", "create", "--protocol", "icmp", "default")
    js("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80", "default")
    return {"ext_ns": f"{_net_prefix(cloud.state_dir)}-ext"}
