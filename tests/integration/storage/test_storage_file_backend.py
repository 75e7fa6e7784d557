"""The Cinder API over the real file backend (qemu-img): image → volume → snapshot → volume, extend, attach."""
from __future__ import annotations

import json
import subprocess

import pytest

from services.storage import create_apps
from services.storage.drivers.file import FileDriver
from services.storage.s3.credentials import FakeCredentials
from tests.unit.storage.storage_testlib import qcow2_bytes

pytestmark = pytest.mark.integration
V = "/v3/p-alice"


@pytest.fixture
def apps(settings, tmp_path):
    drv = FileDriver(settings.state_dir / "storage" / "volumes", "qcow2")
    return create_apps(settings, driver=drv, credentials=FakeCredentials()), drv


def info(path):
    return json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", path], check=True,
                                     capture_output=True, text=True).stdout)


def test_image_to_volume_snapshot_attach(apps, tokens, tmp_path):
    (a, drv) = apps
    images, volumes = a["image"].test_client(), a["volume"].test_client()
    h = tokens["alice"]
    img = images.post("/v2/images", json={"name": "cirros", "disk_format": "qcow2", "container_format": "bare"},
                      headers=h).json
    assert images.put(f"/v2/images/{img['id']}/file", data=qcow2_bytes(tmp_path, "64M"),
                      headers={**h, "Content-Type": "application/octet-stream"}).status_code == 204
    vol = volumes.post(f"{V}/volumes", json={"volume": {"imageRef": img["id"], "size": 1}}, headers=h).json["volume"]
    assert vol["status"] == "available" and vol["bootable"] == "true"
    drv.write(vol["id"], 0, b"guest wrote this")
    snap = volumes.post(f"{V}/snapshots", json={"snapshot": {"volume_id": vol["id"]}}, headers=h).json["snapshot"]
    assert volumes.get(f"{V}/snapshots/{snap['id']}", headers=h).json["snapshot"]["status"] == "available"
    restored = volumes.post(f"{V}/volumes", json={"volume": {"snapshot_id": snap["id"]}}, headers=h).json["volume"]
    assert drv.read(restored["id"], 0, 16) == b"guest wrote this"
    volumes.post(f"{V}/volumes/{restored['id']}/action", json={"os-extend": {"new_size": 2}}, headers=h)
    att = volumes.post(f"{V}/attachments", json={"attachment": {
        "volume_uuid": restored["id"], "instance_uuid": "vm-1", "connector": {"host": "node1"}}},
        headers={**h, "OpenStack-API-Version": "volume 3.44"}).json["attachment"]
    data = att["connection_info"]["data"]
    assert att["connection_info"]["driver_volume_type"] == "file" and data["format"] == "qcow2"
    got = info(data["path"])
    assert got["format"] == "qcow2" and got["virtual-size"] == 2 * 1024 ** 3
    # snapshot and origin delete in either order; the restored volume is independent
    assert volumes.delete(f"{V}/snapshots/{snap['id']}", headers=h).status_code == 202
    assert volumes.delete(f"{V}/volumes/{vol['id']}", headers=h).status_code == 202
    assert drv.read(restored["id"], 0, 16) == b"guest wrote this"
