"""e2e with the network and storage data planes: DHCP, metadata, floating IP from outside, volumes, cleanup."""
from __future__ import annotations

import re
import subprocess

import pytest

from appliance.testing.guest import BOOT_MARKER
from tests.e2e.compute.conftest import services_available, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    "network" not in services_available() or "storage" not in services_available(),
    reason="needs the network and storage services in services/manifest.toml")]


def _console(cloud, name):
    return cloud.openstack("console", "log", "show", name).stdout


def _between(text, begin, end):
    m = re.search(re.escape(begin) + r"[^\n]*\n(.*?)\n" + re.escape(end), text, re.S)
    return m.group(1) if m else None


def test_cli_server_lifecycle_on_a_real_network(cloud, topology, tiny_image, tmp_path):
    osc, js = cloud.openstack, cloud.openstack_json
    user_data = tmp_path / "ud.txt"
    user_data.write_text("hello-from-user-data-42\n")
    server = js("server", "create", "--image", "egret-tiny", "--flavor", "m1.nano", "--network", "private",
                "--user-data", str(user_data), "--wait", "vm1", timeout=300)
    assert server["status"] == "ACTIVE"
    shown = js("server", "show", "vm1")
    fixed = re.search(r"10\.81\.0\.\d+", str(shown["addresses"])).group(0)

    # the guest got exactly that address by DHCP and read its metadata and user data from 169.254.169.254
    text = wait_for(lambda: (lambda t: t if "EGRET-GUEST-READY" in t else None)(_console(cloud, "vm1")), 120)
    assert text and BOOT_MARKER in text, _console(cloud, "vm1")
    assert f"EGRET-LEASE ip={fixed}" in text
    assert server["id"] in (_between(text, "EGRET-METADATA-BEGIN", "EGRET-METADATA-END") or "")
    assert "hello-from-user-data-42" in (_between(text, "EGRET-USERDATA-BEGIN", "EGRET-USERDATA-END") or "")

    # a floating IP shows in the server and reaches the guest from the outside namespace
    fip = js("floating", "ip", "create", "public")["floating_ip_address"]
    osc("server", "add", "floating", "ip", "vm1", fip)
    assert wait_for(lambda: fip in str(js("server", "show", "vm1")["addresses"]), 30)
    ping = wait_for(lambda: subprocess.run(["ip", "netns", "exec", topology["ext_ns"], "ping", "-c", "1", "-W", "2",
                                            fip], capture_output=True).returncode == 0, 60)
    assert ping, f"{fip} unreachable from {topology['ext_ns']}"
    http = subprocess.run(["ip", "netns", "exec", topology["ext_ns"], "timeout", "10", "busybox", "wget", "-q", "-O", "-",
                           f"http://{fip}/"], capture_output=True, text=True)
    assert "egret-guest-ok" in http.stdout, http.stderr

    # a volume attached through Cinder's attachment API appears inside the guest
    js("volume", "create", "--size", "1", "v1")
    assert wait_for(lambda: js("volume", "show", "v1")["status"] == "available", 30)
    osc("server", "add", "volume", "vm1", "v1")
    assert wait_for(lambda: re.search(r"EGRET-DISKS [^\n]*vdb", _console(cloud, "vm1")), 60), _console(cloud, "vm1")
    assert js("volume", "show", "v1")["status"] == "in-use"
    osc("server", "remove", "volume", "vm1", "v1")
    assert wait_for(lambda: js("volume", "show", "v1")["status"] == "available", 30)

    # stop / start / reboot
    osc("server", "stop", "vm1")
    assert wait_for(lambda: js("server", "show", "vm1")["status"] == "SHUTOFF", 60)
    osc("server", "start", "vm1")
    assert wait_for(lambda: js("server", "show", "vm1")["status"] == "ACTIVE", 60)
    boots = _console(cloud, "vm1").count(BOOT_MARKER)
    osc("server", "reboot", "--hard", "--wait", "vm1", timeout=120)
    assert wait_for(lambda: _console(cloud, "vm1").count(BOOT_MARKER) > boots, 60)

    # delete: port, tap, overlay and domain are all gone
    port = js("port", "list", "--device-id", server["id"])[0]
    tap = "tap" + port["ID"][:11]
    assert subprocess.run(["ip", "link", "show", tap], capture_output=True).returncode == 0
    osc("server", "remove", "floating", "ip", "vm1", fip)
    osc("server", "delete", "--wait", "vm1", timeout=120)
    assert js("port", "list", "--device-id", server["id"]) == []
    assert subprocess.run(["ip", "link", "show", tap], capture_output=True).returncode != 0
    assert not (cloud.state_dir / "instances" / server["id"]).exists()
    import libvirt
    conn = libvirt.open("qemu:///system")
    try:
        assert not [d for d in conn.listAllDomains() if server["id"] in d.name()]
    finally:
        conn.close()
    osc("floating", "ip", "delete", fip)
    osc("volume", "delete", "v1")


def test_openstacksdk_create_server_auto_ip(cloud, topology, tiny_image):
    import openstack
    conn = openstack.connect(**cloud.auth)
    try:
        server = conn.create_server("sdk1", image="egret-tiny", flavor="m1.nano", network="private",
                                    auto_ip=True, wait=True, timeout=300)
        assert server.status == "ACTIVE"
        fresh = conn.get_server(server.id)
        floating = [a["addr"] for addrs in fresh.addresses.values() for a in addrs
                    if a.get("OS-EXT-IPS:type") == "floating"]
        assert floating and floating[0].startswith("203.0.113.")
        assert fresh.public_v4 == floating[0]
        assert conn.delete_server(server.id, wait=True, delete_ips=True, timeout=120)
        assert conn.get_server("sdk1") is None
    finally:
        conn.close()
