"""e2e: the unmodified openstack CLI and openstacksdk against `egret up` with real libvirtd (QEMU/TCG guests)."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from appliance.testing.guest import BOOT_MARKER
from tests.e2e.compute.conftest import wait_for

pytestmark = pytest.mark.e2e


def console(cloud, server):
    return cloud.openstack("console", "log", "show", server).stdout


def test_admin_views_show_the_detected_domain_type(cloud):
    import libvirt

    from services.compute.drivers.libvirt.host import detect_domain_type
    conn = libvirt.open("qemu:///system")
    try:
        expected, _ = detect_domain_type(conn)       # kvm_pvm here cannot run stock guests: qemu (TCG)
    finally:
        conn.close()
    hyps = cloud.openstack_json("hypervisor", "list", "--long")
    assert hyps[0]["Hypervisor Type"] == expected.upper()
    status = subprocess.run([sys.executable, "-m", "appliance.cli", "status"], env=cloud.env, capture_output=True,
                            text=True).stdout
    assert re.search(rf"^compute .* ok .*domain type {expected} ", status, re.M), status
    flavors = {f["Name"] for f in cloud.openstack_json("flavor", "list", "--all")}
    assert "m1.nano" in flavors
    services = cloud.openstack_json("compute", "service", "list")
    assert services[0]["Binary"] == "nova-compute" and services[0]["State"] == "up"


def test_server_without_network_boots_and_shows_its_console(cloud, tiny_image):
    out = cloud.openstack_json("server", "create", "--image", "egret-tiny", "--flavor", "m1.nano",
                               "--nic", "none", "--config-drive", "True", "--wait", "lonely", timeout=240)
    assert out["status"] == "ACTIVE"
    text = wait_for(lambda: (lambda t: t if "EGRET-CONFIGDRIVE-END" in t else None)(console(cloud, "lonely")), 90)
    assert text and BOOT_MARKER in text
    assert "config-2" in text and out["id"] in text     # the guest read its config drive
    listed = cloud.openstack_json("server", "list")
    assert [s["Name"] for s in listed] == ["lonely"] and listed[0]["Flavor"] == "m1.nano"
    cloud.openstack("server", "stop", "lonely")
    assert wait_for(lambda: cloud.openstack_json("server", "show", "lonely")["status"] == "SHUTOFF", 60)
    cloud.openstack("server", "start", "lonely")
    assert wait_for(lambda: cloud.openstack_json("server", "show", "lonely")["status"] == "ACTIVE", 60)
    # resize on this host: same disks, new flavor, confirmed
    cloud.openstack("server", "resize", "--flavor", "m1.tiny", "--wait", "lonely", timeout=180)
    assert cloud.openstack_json("server", "show", "lonely")["status"] == "VERIFY_RESIZE"
    cloud.openstack("server", "resize", "confirm", "lonely")
    shown = cloud.openstack_json("server", "show", "lonely")
    assert shown["status"] == "ACTIVE" and "m1.tiny" in str(shown["flavor"])
    # a snapshot lands in Glance as an active qcow2 image that remembers its kernel
    cloud.openstack("server", "image", "create", "--name", "lonely-snap", "--wait", "lonely", timeout=180)
    snap = cloud.openstack_json("image", "show", "lonely-snap")
    assert snap["status"] == "active" and snap["disk_format"] == "qcow2"
    assert "kernel_id" in str(snap.get("properties"))
    cloud.openstack("image", "delete", "lonely-snap")
    cloud.openstack("server", "delete", "--wait", "lonely", timeout=120)
    assert cloud.openstack_json("server", "list") == []
    instances = cloud.state_dir / "instances" / out["id"]
    assert not instances.exists()
