"""One contract for compute's network, image and volume clients: the fakes (services/compute/fakes.py) and the
HTTP clients (services/compute/external.py) on the real network and storage services answer alike.

Every method compute calls is here, with the access rules compute relies on: a user sees only their project's
resources (plus shared networks, public and shared images); compute's service credentials (token=None) see every
project's; only the service sets a port's binding."""
from __future__ import annotations

import hashlib
import subprocess
import uuid

import pytest
from service_clients_support import A, B, FakeWorld, RealWorld

from appliance.testing.plugin import make_settings
from services.compute.external import ExternalError

SERVICE = None      # compute's own credentials, as the managers pass them


@pytest.fixture(params=["fakes", "real-services"])
def world(request, tmp_path):
    settings = make_settings(tmp_path / "state")
    made = (FakeWorld if request.param == "fakes" else RealWorld)(settings)
    yield made
    made.close()


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / "image.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1M"], check=True)
    return path


def refused(call, statuses=(404,)) -> int:
    with pytest.raises(ExternalError) as err:
        call()
    assert err.value.status in statuses, (err.value.status, str(err.value))
    return err.value.status


def test_networks_are_their_projects_and_the_shared_ones(world):
    mine, theirs, shared = world.make_network(A), world.make_network(B), world.make_network(B, shared=True)
    assert world.network.get_network(mine, world.tokens[A])["id"] == mine
    assert world.network.get_network(shared, world.tokens[A])["shared"] is True
    refused(lambda: world.network.get_network(theirs, world.tokens[A]))
    assert world.network.get_network(theirs, SERVICE)["project_id"] == B
    seen = {n["id"] for n in world.network.list_networks(world.tokens[A])}
    assert {mine, shared} <= seen and theirs not in seen


def test_a_port_is_created_by_its_user_and_bound_only_by_the_service(world):
    net, theirs = world.make_network(A), world.make_network(B)
    server = str(uuid.uuid4())
    refused(lambda: world.network.create_port({"network_id": theirs}, world.tokens[A]), (403, 404))
    port = world.network.create_port({"network_id": net, "admin_state_up": True, "device_id": server,
                                      "device_owner": "compute:nova"}, world.tokens[A])
    assert port["project_id"] == A and port["network_id"] == net and port["mac_address"]
    refused(lambda: world.network.update_port(port["id"], {"binding:host_id": "node-1"}, world.tokens[A]), (403,))
    assert not world.network.get_port(port["id"], world.tokens[A]).get("binding:host_id")
    refused(lambda: world.network.get_port(port["id"], world.tokens[B]))
    bound = world.network.update_port(port["id"], {"binding:host_id": "node-1", "device_id": server,
                                                   "device_owner": "compute:nova"}, SERVICE)
    assert bound["binding:host_id"] == "node-1" and bound["binding:vif_details"]["bridge_name"]
    assert bound["mac_address"] == port["mac_address"] and isinstance(bound["fixed_ips"], list)
    assert [p["id"] for p in world.network.list_ports(SERVICE, device_id=server, project_id=A)] == [port["id"]]
    assert world.network.list_ports(SERVICE, device_id=server, project_id=B) == []
    assert world.network.list_ports(world.tokens[B], device_id=server) == []
    assert world.network.list_floatingips(SERVICE, port_id=port["id"]) == []
    released = world.network.update_port(port["id"], {"binding:host_id": "", "device_id": "", "device_owner": ""},
                                         SERVICE)
    assert not released["binding:host_id"] and not released["device_id"]
    world.network.delete_port(port["id"], SERVICE)
    refused(lambda: world.network.get_port(port["id"], SERVICE))
    world.network.delete_port(port["id"], SERVICE)             # already gone is no error


def test_the_service_creates_a_port_in_the_servers_project(world):
    net = world.make_network(A)
    port = world.network.create_port({"network_id": net, "project_id": A, "device_id": "s-1",
                                      "device_owner": "compute:nova"}, SERVICE)
    assert port["project_id"] == A
    assert world.network.get_port(port["id"], world.tokens[A])["id"] == port["id"]


def test_a_ports_floating_ips_are_listed_for_the_service(world):
    net = world.make_network(A)
    port = world.network.create_port({"network_id": net}, world.tokens[A])
    address = world.make_floating_ip(A, port)
    fixed = port["fixed_ips"][0]["ip_address"]
    found = world.network.list_floatingips(SERVICE, port_id=port["id"])
    assert [(f["floating_ip_address"], f["fixed_ip_address"]) for f in found] == [(address, fixed)]
    assert world.network.list_floatingips(world.tokens[B], port_id=port["id"]) == []


def test_security_groups_are_found_by_name_or_id_within_the_project(world):
    group = world.make_security_group(A, "web")
    assert [g["id"] for g in world.network.list_security_groups(world.tokens[A], name="web")] == [group]
    assert [g["id"] for g in world.network.list_security_groups(world.tokens[A], id=group)] == [group]
    assert world.network.list_security_groups(world.tokens[B], name="web") == []
    assert [g["id"] for g in world.network.list_security_groups(SERVICE, name="web", project_id=A)] == [group]
    assert world.network.list_security_groups(SERVICE, name="web", project_id=B) == []


def test_images_are_their_owners_public_or_shared(world, disk):
    private, public = world.make_image(A, disk), world.make_image(B, disk, visibility="public")
    shared = world.make_image(B, disk, visibility="shared")
    world.share_image(shared, A)
    meta = world.image.get_image(private, world.tokens[A])
    assert meta["status"] == "active" and meta["disk_format"] == "qcow2" and meta["owner"] == A
    refused(lambda: world.image.get_image(private, world.tokens[B]))
    assert world.image.get_image(public, world.tokens[A])["visibility"] == "public"
    assert world.image.get_image(private, SERVICE)["id"] == private
    assert A in [m["member_id"] for m in world.image.list_members(shared, SERVICE)]
    assert world.image.list_members(private, SERVICE) == []
    data = b"".join(world.image.download_chunks(private, SERVICE))
    assert data == disk.read_bytes()
    # what the node's cache verifies the data against, as Glance records it at upload
    assert (meta["os_hash_algo"], meta["os_hash_value"]) == ("sha512", hashlib.sha512(data).hexdigest())
    assert meta["checksum"] == hashlib.md5(data).hexdigest()
    refused(lambda: world.image.download_chunks(private, world.tokens[B]))


def test_a_snapshot_image_is_created_by_the_user_and_uploaded_by_the_service(world, disk):
    body = {"name": "snap", "disk_format": "qcow2", "container_format": "bare", "visibility": "private",
            "instance_uuid": str(uuid.uuid4()), "image_type": "snapshot"}
    image = world.image.create_image(body, world.tokens[A])
    assert image["owner"] == A and image["status"] == "queued" and image["image_type"] == "snapshot"
    refused(lambda: world.image.upload_chunks(image["id"], iter([disk.read_bytes()]), world.tokens[B]), (403, 404))
    data = disk.read_bytes()
    # streamed as the node exports a root disk: chunks of any size, the length unknown up front
    world.image.upload_chunks(image["id"], (data[i:i + 4096] for i in range(0, len(data), 4096)), SERVICE)
    uploaded = world.image.get_image(image["id"], world.tokens[A])
    assert uploaded["status"] == "active" and uploaded["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert b"".join(world.image.download_chunks(image["id"], SERVICE)) == data


def test_a_volume_is_attached_and_released_with_the_services_credentials(world):
    vol = world.make_volume(A)
    assert world.volume.get_volume(A, vol, world.tokens[A])["status"] == "available"
    refused(lambda: world.volume.get_volume(B, vol, world.tokens[B]), (403, 404))
    found = world.volume.get_volume(A, vol, SERVICE)
    assert (found.get("os-vol-tenant-attr:tenant_id") or found.get("project_id")) == A
    connector = {"host": "node-1", "platform": "x86_64", "os_type": "linux", "multipath": False,
                 "initiator": None, "mountpoint": "/dev/vdb"}
    server = str(uuid.uuid4())
    att = world.volume.create_attachment(A, vol, server, connector, SERVICE)
    info = att["connection_info"]
    assert info["driver_volume_type"] in ("file", "block", "local")
    assert info["data"].get("path") or info["data"].get("device_path")
    world.volume.complete_attachment(A, att["id"], SERVICE)
    assert world.volume.get_volume(A, vol, SERVICE)["status"] == "in-use"
    world.volume.delete_attachment(A, att["id"], SERVICE)
    assert world.volume.get_volume(A, vol, SERVICE)["status"] == "available"
    world.volume.delete_attachment(A, att["id"], SERVICE)       # already gone is no error
    world.volume.delete_volume(A, vol, SERVICE)
    refused(lambda: world.volume.get_volume(A, vol, SERVICE))
