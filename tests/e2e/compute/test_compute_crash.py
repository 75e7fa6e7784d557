"""e2e: kill -9 the compute service mid-build; after the supervisor restarts it, nothing is left half-built."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.e2e.compute.conftest import wait_for

pytestmark = pytest.mark.e2e


def _compute_pids(cloud) -> list[int]:
    out = subprocess.run([sys.executable, "-m", "appliance.cli", "status", "--json"], env=cloud.env,
                         capture_output=True, text=True)
    rows = json.loads(out.stdout)
    master = next(r["pid"] for r in rows if r["unit"] == "compute")
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return [master] + [int(p) for p in children.split()]


def test_kill_mid_build_leaves_no_ghost_domain_or_port(cloud, tiny_image):
    import libvirt
    js = cloud.openstack_json
    server = js("server", "create", "--image", "egret-tiny", "--flavor", "m1.nano", "--nic", "none",
                "--property", "egret_build_delay=120", "--config-drive", "True", "crashy")
    domain = f"{cloud.run_prefix}-{server['id']}"
    conn = libvirt.open("qemu:///system")
    try:
        # the build holds after spawn: the domain runs, the DB still says BUILD
        assert wait_for(lambda: domain in [d.name() for d in conn.listAllDomains()], 60)
        assert js("server", "show", "crashy")["status"] == "BUILD"
        old = _compute_pids(cloud)
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        # the supervisor restarts compute; its reconcile fails the build cleanly and removes the domain
        shown = wait_for(lambda: (lambda s: s if s.get("status") == "ERROR" else None)(_show(cloud)), 90, 2)
        assert shown, "server never left BUILD after the restart"
        assert "restarted during the build" in shown["fault"]["message"]
        assert domain not in [d.name() for d in conn.listAllDomains()]
        assert not (cloud.state_dir / "instances" / server["id"]).exists()
        assert _compute_pids(cloud)[0] not in old
        # not `delete --wait`: its 5 s polls reuse keep-alive connections gunicorn may close at that moment
        cloud.openstack("server", "delete", "crashy")
        assert wait_for(lambda: "crashy" not in [x["Name"] for x in cloud.openstack_json("server", "list")], 120, 3)
    finally:
        conn.close()


def _show(cloud) -> dict:
    try:
        return cloud.openstack_json("server", "show", "crashy")
    except (AssertionError, ValueError):   # compute is still restarting
        return {}
