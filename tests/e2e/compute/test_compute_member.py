"""e2e (issue 11): an ordinary project member runs the whole server workflow; readers and other projects can't.

Every other compute e2e test acts as the admin, whose token may bind ports; here the openstack CLI and
openstacksdk act as a `member`, a `reader` and a member of a second project, each with their own clouds.yaml.
"""
from __future__ import annotations

import re

import openstack
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from appliance.testing.cloud import ordinary_users
from appliance.testing.guest import BOOT_MARKER, READY_MARKER
from tests.e2e.compute.conftest import services_available, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    "network" not in services_available() or "storage" not in services_available(),
    reason="needs the network and storage services in services/manifest.toml")]


@pytest.fixture(scope="module")
def people(cloud):
    """alice (member) and rita (reader) of proj-a; bob, a member of proj-b."""
    return ordinary_users(cloud)


@pytest.fixture(scope="module")
def alice_net(people, topology):
    """alice's own network, subnet and router (with its gateway on the admin's external network)."""
    js, osc = people["alice"].openstack_json, people["alice"].openstack
    js("network", "create", "anet")
    js("subnet", "create", "--network", "anet", "--subnet-range", "10.82.0.0/24", "asub")
    js("router", "create", "ar")
    osc("router", "add", "subnet", "ar", "asub")
    osc("router", "set", "--external-gateway", "public", "ar")
    return "anet"


def console(user, server) -> str:
    return user.openstack("console", "log", "show", server).stdout


def between(text, begin, end):
    m = re.search(re.escape(begin) + r"[^\n]*\n(.*?)\n" + re.escape(end), text, re.S)
    return m.group(1) if m else None


def refused(user, *args, status=None) -> str:
    """The CLI fails (never succeeds) and says why; with `status`, that HTTP status."""
    proc = user.openstack(*args, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"{user.name} could: openstack {' '.join(args)}\n{out}"
    if status:
        # "HTTP 403" (novaclient, cinderclient) or "ForbiddenException: 403" (openstacksdk-based commands)
        assert re.search(rf"HTTP {status}|Exception: {status}\b", out), out
    else:
        assert re.search(r"HTTP 40[34]|No \w+ (found|with a name or ID)|could not be found|not found", out, re.I), out
    return out


def public_key(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "alice.pub"
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                   serialization.PublicFormat.OpenSSH) + b" alice@e2e\n")
    return path


def test_a_member_runs_the_server_workflow_and_others_cannot_touch_it(cloud, people, alice_net, tiny_image,
                                                                      tmp_path):
    alice, rita, bob = people["alice"], people["rita"], people["bob"]
    js, osc = alice.openstack_json, alice.openstack

    # the reproduction of issue 11: a member's server on the member's own network, with key and user data
    key = js("keypair", "create", "--public-key", str(public_key(tmp_path)), "akey")
    assert key["name"] == "akey" and key["fingerprint"]
    user_data = tmp_path / "ud.txt"
    user_data.write_text("hello-from-alice-11\n")
    server = js("server", "create", "--image", "egret-tiny", "--flavor", "m1.nano", "--network", alice_net,
                "--key-name", "akey", "--user-data", str(user_data), "--wait", "avm", timeout=300)
    assert server["status"] == "ACTIVE", server
    shown = js("server", "show", "avm")
    assert shown["key_name"] == "akey" and re.search(r"10\.82\.0\.\d+", str(shown["addresses"]))
    text = wait_for(lambda: (lambda t: t if READY_MARKER in t else None)(console(alice, "avm")), 120)
    assert text and BOOT_MARKER in text, console(alice, "avm")
    assert "hello-from-alice-11" in (between(text, "EGRET-USERDATA-BEGIN", "EGRET-USERDATA-END") or "")
    [port] = js("port", "list", "--device-id", server["id"])
    assert js("port", "show", port["ID"])["project_id"] == alice.project_id

    # a floating IP from the admin's external network
    fip = js("floating", "ip", "create", "public")["floating_ip_address"]
    osc("server", "add", "floating", "ip", "avm", fip)
    assert wait_for(lambda: fip in str(js("server", "show", "avm")["addresses"]), 30)

    # a volume of alice's, attached through compute (which attaches it with its service credentials)
    vol = js("volume", "create", "--size", "1", "av1")
    assert wait_for(lambda: js("volume", "show", "av1")["status"] == "available", 30)
    osc("server", "add", "volume", "avm", "av1")
    assert js("volume", "show", "av1")["status"] == "in-use"
    assert wait_for(lambda: re.search(r"EGRET-DISKS [^\n]*vdb", console(alice, "avm")), 60), console(alice, "avm")

    # a snapshot: a private image of alice's project
    osc("server", "image", "create", "--name", "asnap", "--wait", "avm", timeout=240)
    snap = js("image", "show", "asnap")
    assert snap["status"] == "active" and snap["visibility"] == "private" and snap["owner"] == alice.project_id

    # rita, a reader of the same project, sees the server but changes nothing
    assert "avm" in [s["Name"] for s in rita.openstack_json("server", "list")]
    assert rita.openstack_json("server", "show", server["id"])["status"] == "ACTIVE"
    refused(rita, "server", "create", "--image", "egret-tiny", "--flavor", "m1.nano", "--network", alice_net,
            "rvm", status=403)
    refused(rita, "server", "stop", server["id"], status=403)
    refused(rita, "server", "delete", server["id"], status=403)
    refused(rita, "server", "add", "volume", server["id"], vol["id"], status=403)
    refused(rita, "floating", "ip", "create", "public", status=403)
    assert js("server", "show", "avm")["status"] == "ACTIVE"

    # bob, a member of proj-b, can neither see nor use anything of proj-a
    assert "avm" not in bob.openstack("server", "list").stdout
    for args in (("server", "show", server["id"]), ("server", "stop", server["id"]),
                 ("server", "delete", server["id"]), ("console", "log", "show", server["id"]),
                 ("port", "show", port["ID"]), ("volume", "show", vol["id"]), ("image", "show", snap["id"])):
        refused(bob, *args)
    bob.openstack_json("network", "create", "bnet")
    bob.openstack_json("subnet", "create", "--network", "bnet", "--subnet-range", "10.83.0.0/24", "bsub")
    bvol = bob.openstack_json("volume", "create", "--size", "1", "bv1")
    assert wait_for(lambda: bob.openstack_json("volume", "show", "bv1")["status"] == "available", 30)
    # proj-a's port, private image and volume passed by ID to bob's own boots and attaches: refused up front
    refused(bob, "server", "create", "--image", "egret-tiny", "--flavor", "m1.nano", "--nic",
            f"port-id={port['ID']}", "bvm1")
    refused(bob, "server", "create", "--image", snap["id"], "--flavor", "m1.nano", "--network", "bnet", "bvm2")
    refused(bob, "server", "add", "volume", server["id"], bvol["id"])
    assert bob.openstack_json("server", "list") == []
    assert js("volume", "show", "av1")["status"] == "in-use" and js("server", "show", "avm")["status"] == "ACTIVE"
    assert bob.openstack_json("volume", "show", "bv1")["status"] == "available"

    # alice's console log, power actions and delete
    assert BOOT_MARKER in console(alice, "avm")
    osc("server", "stop", "avm")
    assert wait_for(lambda: js("server", "show", "avm")["status"] == "SHUTOFF", 60)
    osc("server", "start", "avm")
    assert wait_for(lambda: js("server", "show", "avm")["status"] == "ACTIVE", 60)
    osc("server", "remove", "volume", "avm", "av1")
    assert wait_for(lambda: js("volume", "show", "av1")["status"] == "available", 30)
    osc("server", "remove", "floating", "ip", "avm", fip)
    osc("server", "delete", "--wait", "avm", timeout=120)
    assert js("server", "list") == []
    assert js("port", "list", "--device-id", server["id"]) == []       # compute released the port it bound
    for args in (("floating", "ip", "delete", fip), ("volume", "delete", "av1"), ("image", "delete", "asnap")):
        osc(*args)
    bob.openstack("volume", "delete", "bv1")


def test_a_member_creates_and_deletes_a_server_with_openstacksdk(people, alice_net, tiny_image):
    conn = people["alice"].connection()
    try:
        server = conn.create_server("asdk", image="egret-tiny", flavor="m1.nano", network=alice_net, wait=True,
                                    timeout=300)
        assert server.status == "ACTIVE" and server.project_id == people["alice"].project_id
        ports = list(conn.network.ports(device_id=server.id))
        assert len(ports) == 1 and ports[0].project_id == server.project_id
        assert conn.delete_server(server.id, wait=True, timeout=120)
        assert conn.get_server("asdk") is None
        assert list(conn.network.ports(device_id=server.id)) == []
    finally:
        conn.close()


def test_an_image_naming_another_projects_private_kernel_fails_cleanly(cloud, people, tiny_image, tiny_guest,
                                                                      tmp_path):
    """bob's own image names alice's private kernel: compute must not fetch it with its service credentials."""
    alice, bob = people["alice"], people["bob"]
    secret = tmp_path / "kernel.bin"
    secret.write_bytes(b"alice's private kernel\n" * 64)
    kernel = alice.openstack_json("image", "create", "--disk-format", "aki", "--container-format", "aki",
                                  "--private", "--file", str(secret), "akernel")
    image = bob.openstack_json("image", "create", "--disk-format", "qcow2", "--container-format", "bare",
                               "--private", "--file", str(tiny_guest.disk), "--property",
                               f"kernel_id={kernel['id']}", "bimg")
    conn, admin = bob.connection(), openstack.connect(**cloud.auth)
    try:
        server = bob.openstack_json("server", "create", "--image", image["id"], "--flavor", "m1.nano", "--nic",
                                    "none", "bvm")
        assert wait_for(lambda: conn.compute.get_server(server["id"]).status == "ERROR", 120)
        fault = conn.compute.get_server(server["id"]).fault
        assert fault["message"].startswith(f"Image {kernel['id']} could not be used"), fault
        assert not re.search(r"http|/v2|rule:", str(fault), re.I) and "details" not in fault, fault
        assert admin.compute.get_server(server["id"]).fault.get("details"), "an admin sees the details"
        assert not (cloud.state_dir / "instances" / "_base" / kernel["id"]).exists()
        bob.openstack("server", "delete", "--wait", "bvm", timeout=120)
    finally:
        conn.close()
        admin.close()
        bob.openstack("image", "delete", image["id"], check=False)
        alice.openstack("image", "delete", kernel["id"], check=False)
