"""Volumes on a site through the real storage and network services over HTTP (fake drivers): compute reads a
volume's node with its service credentials, maps the founder's site name to its compute host, attaches across
nodes over iSCSI when the volume's node exports, and places and refuses as the fakes' tests say when it cannot
(issue 14)."""
from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET

import pytest
from service_clients_support import A, RealWorld

from appliance.db import open_service_database
from appliance.testing.plugin import make_settings
from services.compute import build_api, models, scheduler
from services.compute.drivers import base
from services.compute.drivers.fake import FakeDriver
from services.compute.models import ComputeNode
from services.compute.scheduler import nodes
from services.storage.drivers.fake import FakeTarget


def _caps(host):
    return base.HostCaps(domain_type="fake", domain_type_reason="fake driver", hostname=host, cpus=8,
                         memory_mb=8192, numa_nodes=1, disk_gb=100)


def _world(tmp_path, target=None):
    settings = make_settings(tmp_path / "state")
    world = RealWorld(settings, target)
    # the founder: "alpha" in its site (storage names volumes after it), "founder" as a compute host
    settings.service.setdefault("cluster", {})["node_name"] = "alpha"
    settings.service["compute"] = {"instances_dir": str(tmp_path / "instances"), "shutdown_timeout": 0,
                                   "host": "founder"}
    open_service_database(settings, "compute", models.database)
    world.app = build_api(settings, FakeDriver(prefix="egv-", caps=_caps("founder")), world.clients,
                          synchronous=True)
    node = world.app.extensions["egret.manager"].node
    world.beta = FakeDriver(prefix="egv-", caps=_caps("beta"))
    node.register_driver("beta", world.beta)
    with models.database.connection_context():
        scheduler.register_local(node)
        scheduler.register("beta", world.beta.caps, {"ram_allocation_ratio": 1.0})
    disk = tmp_path / "tiny.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    world.image_id = world.make_image(A, disk)
    world.net_id = world.make_network(A)
    return world


@pytest.fixture
def cloud(tmp_path):
    """The founder's storage cannot export (no tgtd): its volumes serve its own servers alone."""
    world = _world(tmp_path, FakeTarget(unavailable="tgtd is not installed (Debian package tgt)"))
    yield world
    world.close()


@pytest.fixture
def exporting_cloud(tmp_path):
    world = _world(tmp_path)
    yield world
    world.close()


def _api(cloud, method, path, body=None):
    client = cloud.app.test_client()
    return getattr(client, method)(path, json=body, headers={"X-Auth-Token": cloud.tokens[A],
                                                             "OpenStack-API-Version": "compute 2.79"})


def _disabled(host, value):
    with models.database.connection_context():
        nodes.set_disabled(ComputeNode.get(ComputeNode.host == host), value, "test")


def _server(cloud, sid):
    return _api(cloud, "get", f"/v2.1/servers/{sid}").json["server"]


def _volume(cloud, vid):
    return cloud._call("volume", "GET", f"/v3/{A}/volumes/{vid}", cloud.tokens[A])["volume"]


def test_attach_across_nodes_is_refused_and_a_bfv_server_lands_on_the_founder(cloud):
    vol = cloud.make_volume(A)
    assert "os-vol-host-attr:host" not in _volume(cloud, vol)     # the member never sees it
    _disabled("founder", True)
    body = {"server": {"name": "vm", "imageRef": cloud.image_id, "flavorRef": "6",
                       "networks": [{"uuid": cloud.net_id}]}}
    sid = _api(cloud, "post", "/v2.1/servers", body).json["server"]["id"]
    assert _server(cloud, sid)["status"] == "ACTIVE", _server(cloud, sid).get("fault")
    with models.database.connection_context():
        assert models.Instance.get_by_id(sid).host == "beta"
    resp = _api(cloud, "post", f"/v2.1/servers/{sid}/os-volume_attachments", {"volumeAttachment": {"volumeId": vol}})
    assert resp.status_code == 409, resp.json
    assert resp.json["conflictingRequest"]["message"].startswith(
        f"Volume {vol} lives on node founder and server {sid} runs on node beta:")
    listed = cloud._call("volume", "GET", f"/v3/{A}/attachments?volume_id={vol}", cloud.tokens[A])
    assert listed["attachments"] == [] and _volume(cloud, vol)["status"] == "available"
    # boot from it: only the founder holds it, and the founder takes no servers yet
    bfv = {"server": {"name": "bfv", "flavorRef": "6", "networks": [{"uuid": cloud.net_id}],
                      "block_device_mapping_v2": [{"uuid": vol, "source_type": "volume",
                                                   "destination_type": "volume", "boot_index": 0}]}}
    refused = _api(cloud, "post", "/v2.1/servers", bfv).json["server"]["id"]
    fault = _server(cloud, refused)["fault"]["message"]
    assert "VolumeLocalityFilter (the server's volumes live on node founder;" in fault
    _disabled("founder", False)
    placed = _api(cloud, "post", "/v2.1/servers", bfv).json["server"]["id"]
    assert _server(cloud, placed)["status"] == "ACTIVE", _server(cloud, placed).get("fault")
    with models.database.connection_context():
        assert models.Instance.get_by_id(placed).host == "founder"
    assert _volume(cloud, vol)["status"] == "in-use"


def test_a_server_on_another_node_attaches_the_volume_over_iscsi(exporting_cloud):
    cloud = exporting_cloud
    vol = cloud.make_volume(A)
    _disabled("founder", True)
    body = {"server": {"name": "vm", "imageRef": cloud.image_id, "flavorRef": "6",
                       "networks": [{"uuid": cloud.net_id}]}}
    sid = _api(cloud, "post", "/v2.1/servers", body).json["server"]["id"]
    assert _server(cloud, sid)["status"] == "ACTIVE", _server(cloud, sid).get("fault")
    resp = _api(cloud, "post", f"/v2.1/servers/{sid}/os-volume_attachments", {"volumeAttachment": {"volumeId": vol}})
    assert resp.status_code == 200, resp.json
    assert _volume(cloud, vol)["status"] == "in-use"
    attachments = cloud._call("volume", "GET", f"/v3/{A}/attachments/detail?volume_id={vol}", cloud.tokens[A])
    [attachment] = attachments["attachments"]
    info = attachment["connection_info"]
    assert info["driver_volume_type"] == "iscsi", info
    assert "auth_password" not in info["data"]        # a member never reads the CHAP secret
    # beta's guest holds a network disk at the target, its CHAP password in a driver secret
    [domain] = cloud.beta.domains.values()
    [disk] = [d for d in ET.fromstring(domain["xml"]).iterfind("devices/disk") if d.get("type") == "network"]
    source = disk.find("source")
    assert source.get("protocol") == "iscsi" and source.get("name") == f"{info['data']['target_iqn']}/1"
    assert list(cloud.beta.secrets) == [disk.find("source/auth/secret").get("usage")]
    gone = _api(cloud, "delete", f"/v2.1/servers/{sid}/os-volume_attachments/{vol}")
    assert gone.status_code == 202, gone.json
    assert _volume(cloud, vol)["status"] == "available"
    assert cloud.beta.secrets == {}
    assert not [d for d in ET.fromstring(domain["xml"]).iterfind("devices/disk") if d.get("type") == "network"]
