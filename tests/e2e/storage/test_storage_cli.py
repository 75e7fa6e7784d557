"""Images and volumes through the unmodified openstack CLI against a real `egret up`, with project isolation."""
from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from tests.e2e.storage.conftest import wait_for

pytestmark = pytest.mark.e2e




def test_image_workflow(cloud, other, tmp_path):
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    data = disk.read_bytes()
    img = cloud.openstack_json("image", "create", "--file", str(disk), "--disk-format", "qcow2",
                               "--container-format", "bare", "cirros-e2e")
    assert img["status"] == "active" and img["size"] == len(data)
    assert img["checksum"] == hashlib.md5(data).hexdigest()
    assert [i["Name"] for i in cloud.openstack_json("image", "list")] == ["cirros-e2e"]
    shown = cloud.openstack_json("image", "show", "cirros-e2e")
    assert shown["id"] == img["id"] and shown["disk_format"] == "qcow2"
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    out = tmp_path / "saved.qcow2"
    cloud.openstack("image", "save", "--file", str(out), "cirros-e2e")
    assert out.read_bytes() == data
    # a file that lies about its format is refused and the image stays without data
    liar = tmp_path / "liar.img"
    liar.write_bytes(b"not a qcow2 at all" * 100)
    r = cloud.openstack("image", "create", "--file", str(liar), "--disk-format", "qcow2", "--container-format",
                        "bare", "liar", check=False)
    assert r.returncode != 0 and "disk_format is qcow2" in (r.stderr + r.stdout)
    # (the CLI deletes the image it created when the upload fails; none may be active)
    assert [i["Status"] for i in cloud.openstack_json("image", "list") if i["Name"] == "liar"] in ([], ["queued"])
    # isolation: bob neither lists nor shows nor deletes alice's (admin's) shared image
    assert other.openstack_json("image", "list") == []
    assert other.openstack("image", "show", img["id"], check=False).returncode != 0
    assert other.openstack("image", "delete", img["id"], check=False).returncode != 0
    assert cloud.openstack_json("image", "show", img["id"])["status"] == "active"
    cloud.openstack("image", "delete", "cirros-e2e")
    assert "cirros-e2e" not in [i["Name"] for i in cloud.openstack_json("image", "list")]


def volume_status(cloud, name):
    return cloud.openstack_json("volume", "show", name)["status"]


def test_volume_workflow(cloud, other, tmp_path):
    vol = cloud.openstack_json("volume", "create", "--size", "1", "data-e2e")
    assert vol["size"] == 1 and vol["name"] == "data-e2e"
    wait_for(lambda: volume_status(cloud, "data-e2e") == "available", "volume available")
    listed = cloud.openstack_json("volume", "list")
    assert [(v["Name"], v["Status"], v["Size"]) for v in listed] == [("data-e2e", "available", 1)]
    snap = cloud.openstack_json("volume", "snapshot", "create", "--volume", "data-e2e", "snap-e2e")
    assert snap["volume_id"] == vol["id"]
    wait_for(lambda: cloud.openstack_json("volume", "snapshot", "show", "snap-e2e")["status"] == "available",
             "snapshot available")
    assert [s["Name"] for s in cloud.openstack_json("volume", "snapshot", "list")] == ["snap-e2e"]
    cloud.openstack("volume", "set", "--size", "2", "data-e2e")
    wait_for(lambda: cloud.openstack_json("volume", "show", "data-e2e")["size"] == 2, "extend")
    restored = cloud.openstack_json("volume", "create", "--snapshot", "snap-e2e", "--size", "1", "restored-e2e")
    wait_for(lambda: volume_status(cloud, "restored-e2e") == "available", "volume from snapshot")
    assert cloud.openstack_json("volume", "show", restored["id"])["snapshot_id"] == snap["id"]
    # the file backend holds a real qcow2 file per volume
    path = cloud.state_dir / "storage" / "volumes" / f"volume-{vol['id']}.qcow2"
    info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)], check=True,
                                     capture_output=True, text=True).stdout)
    assert info["virtual-size"] == 2 * 1024 ** 3
    # bob sees nothing and can touch nothing
    assert other.openstack_json("volume", "list") == []
    for args in (("volume", "show", vol["id"]), ("volume", "delete", vol["id"]),
                 ("volume", "set", "--size", "5", vol["id"]), ("volume", "snapshot", "delete", snap["id"])):
        assert other.openstack(*args, check=False).returncode != 0, args
    assert cloud.openstack_json("volume", "show", "data-e2e")["size"] == 2
    # deleting a volume that has snapshots is refused
    assert cloud.openstack("volume", "delete", "data-e2e", check=False).returncode != 0
    cloud.openstack("volume", "snapshot", "delete", "snap-e2e")
    wait_for(lambda: cloud.openstack_json("volume", "snapshot", "list") == [], "snapshot deleted")
    cloud.openstack("volume", "delete", "data-e2e", "restored-e2e")
    wait_for(lambda: cloud.openstack_json("volume", "list") == [], "volumes deleted")
    assert not path.exists()


def test_volume_from_image(cloud, tmp_path):
    disk = tmp_path / "boot.raw"
    disk.write_bytes(b"\xeb\x63\x90" + b"\0" * (1024 * 1024 - 3))
    cloud.openstack("image", "create", "--file", str(disk), "--disk-format", "raw", "--container-format", "bare",
                    "boot-e2e")
    cloud.openstack("volume", "create", "--image", "boot-e2e", "--size", "1", "bootvol-e2e")
    wait_for(lambda: volume_status(cloud, "bootvol-e2e") == "available", "volume from image")
    shown = cloud.openstack_json("volume", "show", "bootvol-e2e")
    assert shown["bootable"] in (True, "true") and shown["volume_image_metadata"]["image_name"] == "boot-e2e"
    cloud.openstack("volume", "delete", "bootvol-e2e")
    cloud.openstack("image", "delete", "boot-e2e")


def test_volume_type_with_multiattach(cloud):
    cloud.openstack("volume", "type", "create", "--property", "multiattach=<is> True", "multi-e2e")
    shown = cloud.openstack_json("volume", "type", "show", "multi-e2e")
    assert "multiattach" in str(shown["properties"])
    vol = cloud.openstack_json("volume", "create", "--size", "1", "--type", "multi-e2e", "shared-e2e")
    assert vol["multiattach"] is True and vol["type"] == "multi-e2e"
    wait_for(lambda: volume_status(cloud, "shared-e2e") == "available", "multiattach volume")
    cloud.openstack("volume", "delete", "shared-e2e")
    wait_for(lambda: "shared-e2e" not in [v["Name"] for v in cloud.openstack_json("volume", "list")], "deleted")
    cloud.openstack("volume", "type", "delete", "multi-e2e")


def test_backend_pools_for_the_admin_alone(cloud, other):
    """`openstack volume backend pool list` (Cinder's scheduler-stats): the one pool, named as volumes' host, with
    the capabilities --long prints; a member is refused."""
    (pool,) = cloud.openstack_json("volume", "backend", "pool", "list")
    assert pool["Name"].endswith("@file#file")
    (pool,) = cloud.openstack_json("volume", "backend", "pool", "list", "--long")
    caps = pool["Capabilities"]
    assert caps["vendor_name"] == "Egret" and caps["pool_name"] == "file"
    # the box has tgt installed (scripts/setup-debian.sh): its volumes can be served to other nodes
    assert caps["storage_protocol"] == "iSCSI" and caps["thin_provisioning_support"] is True
    refused = other.openstack("volume", "backend", "pool", "list", check=False)
    assert refused.returncode != 0 and "403" in refused.stderr + refused.stdout
