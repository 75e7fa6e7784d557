"""The metadata service (Neutron proxy headers, HMAC) and config drives."""
import base64
import json
import shutil
import subprocess

import pytest

from services.compute.metadata import build_metadata_app, proxy_secret, secret_path, sign


@pytest.fixture
def md(env):
    app = build_metadata_app(env.settings, env.manager)
    secret = proxy_secret(env.settings)
    client = app.test_client()

    def get(path, iid, signature=None, **headers):
        h = {"X-Instance-ID": iid, "X-Instance-ID-Signature": signature or sign(secret, iid),
             "X-Forwarded-For": "10.0.0.11", **headers}
        return client.get(path, headers=h)
    get.client = client
    return get


def test_secret_file_is_shared_with_the_group_only(env, md):
    # network's metadata proxy (another user of group egret on the box) signs with it; nobody else reads it
    assert oct(secret_path(env.settings).stat().st_mode & 0o777) == "0o640"


def test_openstack_tree(env, md):
    pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHGfL1R4Q2j1S4wT3RZ2b0zWvVw0W1V8m5pT0XqmS3ep t@e"
    env.api.post("/v2.1/os-keypairs", json={"keypair": {"name": "k", "public_key": pub}})
    sid = env.boot(name="Web Server 1", key_name="k", user_data=base64.b64encode(b"hello from user data").decode(),
                   metadata={"a": "b"})
    meta = md("/openstack/latest/meta_data.json", sid)
    assert meta.status_code == 200
    doc = meta.json
    assert doc["uuid"] == sid and doc["hostname"] == "web-server-1" and doc["meta"] == {"a": "b"}
    assert doc["public_keys"] == {"k": pub} and doc["project_id"] == "p-test"
    assert md("/openstack/latest/user_data", sid).data == b"hello from user data"
    net = md("/openstack/latest/network_data.json", sid).json
    assert net["links"][0]["ethernet_mac_address"] and net["networks"][0]["type"] == "ipv4_dhcp"
    assert md("/openstack/latest/vendor_data.json", sid).json == {}
    assert "latest" in md("/openstack", sid).data.decode().split()


def test_ec2_tree(env, md):
    sid = env.boot(user_data=base64.b64encode(b"ec2 data").decode())
    assert md("/latest/meta-data/instance-id", sid).data.decode() == sid
    assert "instance-id" in md("/latest/meta-data/", sid).data.decode().split()
    assert md("/latest/meta-data/placement/availability-zone", sid).data == b"nova"
    assert md("/latest/user-data", sid).data == b"ec2 data"
    assert md("/latest/meta-data/local-ipv4", sid).data.decode().startswith("10.0.0.")


def test_bad_signature_missing_header_and_unknown_instance(env, md):
    sid = env.boot()
    resp = md("/openstack/latest/meta_data.json", sid, signature="0" * 64)
    assert resp.status_code == 403
    resp = md.client.get("/openstack/latest/meta_data.json")
    assert resp.status_code == 400
    assert md("/openstack/latest/meta_data.json", "no-such").status_code == 404
    assert md("/openstack/latest/meta_data.json", sid, **{"X-Tenant-ID": "p-other"}).status_code == 403
    without_user_data = md("/openstack/latest/user_data", sid)
    assert without_user_data.status_code == 404


@pytest.mark.skipif(not shutil.which("genisoimage"), reason="genisoimage missing: run scripts/setup-debian.sh")
def test_config_drive_is_an_iso_labelled_config_2(env):
    sid = env.boot(config_drive=True, user_data=base64.b64encode(b"cd data").decode())
    iso = env.driver.files.root / sid / "disk.config"     # the fake node's own files, as libvirt's
    assert iso.exists()
    info = subprocess.run(["isoinfo", "-d", "-i", str(iso)], capture_output=True, text=True).stdout
    assert "Volume id: config-2" in info
    meta = subprocess.run(["isoinfo", "-R", "-x", "/openstack/latest/meta_data.json", "-i", str(iso)],
                          capture_output=True).stdout
    assert json.loads(meta)["uuid"] == sid
    xml = env.driver.xml("egunit-" + sid)
    assert 'device="cdrom"' in xml and "disk.config" in xml
    assert env.api.get(f"/v2.1/servers/{sid}").json["server"]["config_drive"] == "True"
