"""e2e: images, volumes and S3 as ordinary users (member, reader, another project's member) with the real clients."""
from __future__ import annotations

import hashlib
import subprocess

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from appliance.testing.cloud import FORBIDDEN, assert_cli_refused, ordinary_users
from tests.e2e.storage.conftest import wait_for

pytestmark = pytest.mark.e2e

_NOT_FOUND = ("HTTP 404", "404", "No image found", "No volume found", "No snapshot found", "not found",
              "No Image found", "No Volume found", "No Snapshot found", "Unable to find")


@pytest.fixture(scope="module")
def users(cloud):
    """The admin only makes the projects, the users and one public image."""
    return ordinary_users(cloud)


@pytest.fixture(scope="module")
def public_image(cloud, tmp_path_factory):
    disk = tmp_path_factory.mktemp("public") / "boot.raw"
    disk.write_bytes(b"\xeb\x63\x90" + b"\0" * (1024 * 1024 - 3))
    return cloud.openstack_json("image", "create", "--public", "--file", str(disk), "--disk-format", "raw",
                                "--container-format", "bare", "public-boot")


def _status(user, kind, name):
    return user.openstack_json(*kind, "show", name)["status"]


def _s3(cloud, user):
    cred = user.openstack_json("ec2", "credentials", "create")
    client = boto3.client("s3", endpoint_url=cloud.url("s3"), aws_access_key_id=cred["access"],
                          aws_secret_access_key=cred["secret"], region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}))
    return client, cred


def _denied(call, *args, **kw):
    with pytest.raises(ClientError) as err:
        call(*args, **kw)
    assert err.value.response["Error"]["Code"] == "AccessDenied", err.value.response
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_member_private_image_lifecycle(users, tmp_path):
    alice, bob, rita = users["alice"], users["bob"], users["rita"]
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "32M"], check=True)
    data = disk.read_bytes()
    img = alice.openstack_json("image", "create", "--private", "--file", str(disk), "--disk-format", "qcow2",
                               "--container-format", "bare", "alice-img")
    assert img["status"] == "active" and img["owner"] == alice.project_id
    assert img["checksum"] == hashlib.md5(data).hexdigest() and img["visibility"] == "private"
    assert "alice-img" in {i["Name"] for i in alice.openstack_json("image", "list")}
    out = tmp_path / "saved.qcow2"
    alice.openstack("image", "save", "--file", str(out), "alice-img")
    assert hashlib.md5(out.read_bytes()).hexdigest() == img["checksum"]

    # the reader of the same project reads it, and may not change it
    assert rita.openstack_json("image", "show", img["id"])["checksum"] == img["checksum"]
    out2 = tmp_path / "rita.qcow2"
    rita.openstack("image", "save", "--file", str(out2), img["id"])
    assert out2.read_bytes() == data
    assert_cli_refused(rita.openstack("image", "create", "--file", str(disk), "--disk-format", "qcow2",
                                      "--container-format", "bare", "rita-img", check=False))
    assert_cli_refused(rita.openstack("image", "set", "--name", "renamed", img["id"], check=False))
    assert_cli_refused(rita.openstack("image", "delete", img["id"], check=False), *FORBIDDEN, "Failed to delete")

    # another project neither lists, shows, downloads nor deletes it
    assert img["id"] not in {i["ID"] for i in bob.openstack_json("image", "list")}
    assert_cli_refused(bob.openstack("image", "show", img["id"], check=False), *_NOT_FOUND)
    assert_cli_refused(bob.openstack("image", "save", "--file", str(tmp_path / "bob"),
                                     img["id"], check=False), *_NOT_FOUND)
    # (the CLI reports any 404 on image delete as "Multi Backend support not enabled.", against Glance too)
    assert_cli_refused(bob.openstack("image", "delete", img["id"], check=False),
                       *_NOT_FOUND, "Failed to delete", "Multi Backend support not enabled")
    assert alice.openstack_json("image", "show", img["id"])["status"] == "active"

    # publicizing is the admin's (Glance's publicize_image default)
    assert_cli_refused(alice.openstack("image", "create", "--public", "--file", str(disk), "--disk-format", "qcow2",
                                       "--container-format", "bare", "alice-public", check=False))
    assert_cli_refused(alice.openstack("image", "set", "--public", img["id"], check=False))
    alice.openstack("image", "delete", "alice-img")
    assert "alice-img" not in {i["Name"] for i in alice.openstack_json("image", "list")}


def test_member_volume_lifecycle(cloud, users):
    alice, bob, rita = users["alice"], users["bob"], users["rita"]
    vol = alice.openstack_json("volume", "create", "--size", "1", "alice-vol")
    wait_for(lambda: _status(alice, ("volume",), "alice-vol") == "available", "volume available")
    snap = alice.openstack_json("volume", "snapshot", "create", "--volume", "alice-vol", "alice-snap")
    wait_for(lambda: _status(alice, ("volume", "snapshot"), "alice-snap") == "available", "snapshot available")
    restored = alice.openstack_json("volume", "create", "--snapshot", "alice-snap", "--size", "1", "alice-restored")
    wait_for(lambda: _status(alice, ("volume",), "alice-restored") == "available", "volume from snapshot")
    alice.openstack("volume", "set", "--size", "2", "alice-vol")
    wait_for(lambda: alice.openstack_json("volume", "show", "alice-vol")["size"] == 2, "extend")
    assert {v["Name"] for v in alice.openstack_json("volume", "list")} == {"alice-vol", "alice-restored"}

    # the reader sees everything and changes nothing
    assert {v["Name"] for v in rita.openstack_json("volume", "list")} == {"alice-vol", "alice-restored"}
    assert rita.openstack_json("volume", "show", vol["id"])["size"] == 2
    assert [s["Name"] for s in rita.openstack_json("volume", "snapshot", "list")] == ["alice-snap"]
    assert_cli_refused(rita.openstack("volume", "create", "--size", "1", "rita-vol", check=False))
    # the refusal is Cinder's own error body
    resp = requests.post(cloud.url("volume", f"/v3/{rita.project_id}/volumes"), json={"volume": {"size": 1}},
                         headers={"X-Auth-Token": rita.token()})
    assert resp.status_code == 403 and resp.json()["forbidden"]["code"] == 403, resp.text
    assert_cli_refused(rita.openstack("volume", "delete", vol["id"], check=False), *FORBIDDEN, "Failed to delete")
    assert_cli_refused(rita.openstack("volume", "set", "--size", "3", vol["id"], check=False))
    assert_cli_refused(rita.openstack("volume", "snapshot", "create", "--volume", vol["id"], "rita-snap", check=False))
    assert_cli_refused(rita.openstack("volume", "snapshot", "delete", snap["id"], check=False),
                       *FORBIDDEN, "Failed to delete")

    # another project sees none of it
    assert bob.openstack_json("volume", "list") == []
    assert bob.openstack_json("volume", "snapshot", "list") == []
    assert_cli_refused(bob.openstack("volume", "show", vol["id"], check=False), *_NOT_FOUND)
    assert_cli_refused(bob.openstack("volume", "snapshot", "show", snap["id"], check=False), *_NOT_FOUND)
    assert_cli_refused(bob.openstack("volume", "delete", vol["id"], check=False), *_NOT_FOUND, "Failed to delete")
    assert_cli_refused(bob.openstack("volume", "create", "--snapshot", snap["id"], "--size", "1",
                                     "stolen", check=False),
                       *_NOT_FOUND)
    assert alice.openstack_json("volume", "show", vol["id"])["status"] == "available"

    alice.openstack("volume", "snapshot", "delete", "alice-snap")
    wait_for(lambda: alice.openstack_json("volume", "snapshot", "list") == [], "snapshot deleted")
    alice.openstack("volume", "delete", vol["id"], restored["id"])
    wait_for(lambda: alice.openstack_json("volume", "list") == [], "volumes deleted")


def test_member_volume_from_public_image(users, public_image):
    alice, bob = users["alice"], users["bob"]
    # the admin's public image is everyone's to read
    for user in (alice, bob, users["rita"]):
        assert public_image["id"] in {i["ID"] for i in user.openstack_json("image", "list")}
    assert_cli_refused(alice.openstack("image", "delete", public_image["id"], check=False),
                       *FORBIDDEN, "Failed to delete")
    alice.openstack("volume", "create", "--image", "public-boot", "--size", "1", "alice-boot")
    wait_for(lambda: _status(alice, ("volume",), "alice-boot") == "available", "volume from image")
    shown = alice.openstack_json("volume", "show", "alice-boot")
    assert shown["bootable"] in (True, "true") and shown["volume_image_metadata"]["image_name"] == "public-boot"
    assert bob.openstack_json("volume", "list") == []
    alice.openstack("volume", "delete", "alice-boot")
    wait_for(lambda: alice.openstack_json("volume", "list") == [], "volume deleted")


def test_s3_as_member_reader_and_other_project(cloud, users):
    alice_s3, alice_cred = _s3(cloud, users["alice"])
    rita_s3, _ = _s3(cloud, users["rita"])
    bob_s3, _ = _s3(cloud, users["bob"])
    alice_s3.create_bucket(Bucket="alice-bucket")
    alice_s3.put_object(Bucket="alice-bucket", Key="notes/a.txt", Body=b"alice's notes")
    assert alice_s3.get_object(Bucket="alice-bucket", Key="notes/a.txt")["Body"].read() == b"alice's notes"
    assert [o["Key"] for o in alice_s3.list_objects_v2(Bucket="alice-bucket")["Contents"]] == ["notes/a.txt"]
    assert "alice-bucket" in {b["Name"] for b in alice_s3.list_buckets()["Buckets"]}

    # the reader of proj-a reads, and every write is AccessDenied
    assert rita_s3.get_object(Bucket="alice-bucket", Key="notes/a.txt")["Body"].read() == b"alice's notes"
    assert "alice-bucket" in {b["Name"] for b in rita_s3.list_buckets()["Buckets"]}
    _denied(rita_s3.put_object, Bucket="alice-bucket", Key="rita.txt", Body=b"x")
    _denied(rita_s3.delete_object, Bucket="alice-bucket", Key="notes/a.txt")
    _denied(rita_s3.create_bucket, Bucket="rita-bucket")
    _denied(rita_s3.delete_bucket, Bucket="alice-bucket")

    # proj-b's member cannot list, read or write it
    assert "alice-bucket" not in {b["Name"] for b in bob_s3.list_buckets()["Buckets"]}
    _denied(bob_s3.list_objects_v2, Bucket="alice-bucket")
    _denied(bob_s3.get_object, Bucket="alice-bucket", Key="notes/a.txt")
    _denied(bob_s3.put_object, Bucket="alice-bucket", Key="bob.txt", Body=b"x")
    _denied(bob_s3.delete_object, Bucket="alice-bucket", Key="notes/a.txt")
    _denied(bob_s3.delete_bucket, Bucket="alice-bucket")
    # nor use alice's access key: bob's identity cannot list or show it
    assert alice_cred["access"] not in {c["Access"] for c in users["bob"].openstack_json("ec2", "credentials",
                                                                                         "list")}
    assert_cli_refused(users["bob"].openstack("ec2", "credentials", "show", "--user", users["alice"].user_id,
                                              alice_cred["access"], check=False))
    # a key whose secret is wrong is refused outright
    forged = boto3.client("s3", endpoint_url=cloud.url("s3"), aws_access_key_id=alice_cred["access"],
                          aws_secret_access_key="not-the-secret", region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}))
    with pytest.raises(ClientError) as err:
        forged.list_objects_v2(Bucket="alice-bucket")
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

    alice_s3.delete_object(Bucket="alice-bucket", Key="notes/a.txt")
    alice_s3.delete_bucket(Bucket="alice-bucket")
    assert "alice-bucket" not in {b["Name"] for b in alice_s3.list_buckets()["Buckets"]}
