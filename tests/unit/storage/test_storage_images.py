"""Glance v2 API: lifecycle, listing, visibility, members, upload checks, and bad input that changes nothing."""
from __future__ import annotations

import hashlib
import io
import struct
import subprocess

import pytest

from tests.unit.storage.storage_testlib import db_state, files_under, qcow2_bytes

OCTET = {"Content-Type": "application/octet-stream"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


def make_image(client, headers, **body):
    body = {"name": "img", "disk_format": "raw", "container_format": "bare", **body}
    r = client.post("/v2/images", json=body, headers=headers)
    assert r.status_code == 201, r.json
    return r.json


def assert_glance_error(r, status, words):
    assert r.status_code == status, (r.status_code, r.data)
    doc = r.json
    assert doc["code"] == status and doc["error"]["code"] == status
    assert words.lower() in doc["message"].lower(), doc["message"]


def test_discovery_is_unauthenticated_300(image_client):
    r = image_client.get("/")
    assert r.status_code == 300
    current = [v for v in r.json["versions"] if v["status"] == "CURRENT"]
    assert current[0]["id"] == "v2.9" and current[0]["links"][0]["rel"] == "self"


def test_full_lifecycle_with_checksums_range_and_properties(image_client, tokens, tmp_path):
    h = tokens["alice"]
    img = make_image(image_client, h, disk_format="qcow2", **{"owner_specified.openstack.sha256": ""})
    assert img["status"] == "queued" and img["owner_specified.openstack.sha256"] == ""
    data = qcow2_bytes(tmp_path, "2M")
    r = image_client.put(f"/v2/images/{img['id']}/file", data=data, headers={**h, **OCTET})
    assert r.status_code == 204
    shown = image_client.get(f"/v2/images/{img['id']}", headers=h).json
    assert shown["status"] == "active" and shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_algo"] == "sha512" and shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert shown["virtual_size"] == 2 * 1024 * 1024
    r = image_client.get(f"/v2/images/{img['id']}/file", headers=h)
    assert r.status_code == 200 and r.data == data and r.headers["Content-MD5"] == shown["checksum"]
    r = image_client.get(f"/v2/images/{img['id']}/file", headers={**h, "Range": "bytes=4-"})
    assert r.status_code == 206 and r.data == data[4:]
    r = image_client.get(f"/v2/images/{img['id']}/file", headers={**h, "Range": f"bytes={len(data)}-"})
    assert r.status_code == 416
    # a second upload is refused
    r = image_client.put(f"/v2/images/{img['id']}/file", data=b"x", headers={**h, **OCTET})
    assert_glance_error(r, 409, "uploaded once")
    r = image_client.patch(f"/v2/images/{img['id']}", headers={**h, **PATCH},
                           json=[{"op": "replace", "path": "/name", "value": "renamed"},
                                 {"op": "add", "path": "/hw_disk_bus", "value": "virtio"}])
    assert r.status_code == 200 and r.json["name"] == "renamed" and r.json["hw_disk_bus"] == "virtio"
    assert image_client.put(f"/v2/images/{img['id']}/tags/t1", headers=h).status_code == 204
    assert image_client.get(f"/v2/images/{img['id']}", headers=h).json["tags"] == ["t1"]
    assert image_client.delete(f"/v2/images/{img['id']}/tags/t1", headers=h).status_code == 204
    assert image_client.delete(f"/v2/images/{img['id']}", headers=h).status_code == 204
    assert image_client.get(f"/v2/images/{img['id']}", headers=h).status_code == 404


def test_list_filters_sort_and_next(image_client, tokens):
    h = tokens["alice"]
    ids = [make_image(image_client, h, name=f"n{i}")["id"] for i in range(5)]
    r = image_client.get("/v2/images?limit=2&sort=name:asc", headers=h)
    assert [i["name"] for i in r.json["images"]] == ["n0", "n1"] and "marker=" in r.json["next"]
    r2 = image_client.get(r.json["next"], headers=h)
    assert [i["name"] for i in r2.json["images"]] == ["n2", "n3"]
    r = image_client.get(f"/v2/images?id=in:{ids[1]},{ids[3]}", headers=h)
    assert sorted(i["id"] for i in r.json["images"]) == sorted([ids[1], ids[3]])
    assert [i["name"] for i in image_client.get("/v2/images?name=n4", headers=h).json["images"]] == ["n4"]
    assert image_client.get("/v2/images?status=active", headers=h).json["images"] == []
    assert_glance_error(image_client.get("/v2/images?sort_key=bogus", headers=h), 400, "sort_key")
    assert_glance_error(image_client.get("/v2/images?limit=x", headers=h), 400, "limit")


def test_visibility_and_members(image_client, tokens):
    a, b = tokens["alice"], tokens["bob"]
    private = make_image(image_client, a, visibility="private")
    shared = make_image(image_client, a, visibility="shared")
    community = make_image(image_client, a, visibility="community")
    # public needs admin
    assert_glance_error(image_client.post("/v2/images", json={"visibility": "public"}, headers=a), 403,
                        "not authorized")
    public = make_image(image_client, tokens["admin"], visibility="public")
    seen = {i["id"] for i in image_client.get("/v2/images", headers=b).json["images"]}
    assert public["id"] in seen and private["id"] not in seen and shared["id"] not in seen
    assert community["id"] not in seen
    assert community["id"] in {i["id"] for i in
                               image_client.get("/v2/images?visibility=community", headers=b).json["images"]}
    assert image_client.get(f"/v2/images/{private['id']}", headers=b).status_code == 404
    assert image_client.get(f"/v2/images/{shared['id']}", headers=b).status_code == 404
    r = image_client.post(f"/v2/images/{shared['id']}/members", json={"member": "p-bob"}, headers=a)
    assert r.status_code == 200 and r.json["status"] == "pending"
    assert image_client.get(f"/v2/images/{shared['id']}", headers=b).status_code == 200
    assert shared["id"] not in {i["id"] for i in image_client.get("/v2/images", headers=b).json["images"]}
    r = image_client.put(f"/v2/images/{shared['id']}/members/p-bob", json={"status": "accepted"}, headers=b)
    assert r.status_code == 200
    assert shared["id"] in {i["id"] for i in image_client.get("/v2/images", headers=b).json["images"]}
    # a member cannot modify or delete, and cannot add members
    before = db_state()
    assert image_client.delete(f"/v2/images/{shared['id']}", headers=b).status_code == 403
    r = image_client.patch(f"/v2/images/{shared['id']}", headers={**b, **PATCH},
                           json=[{"op": "replace", "path": "/name", "value": "pwned"}])
    assert_glance_error(r, 403, "not permitted")
    assert db_state() == before


def test_deactivate_blocks_download_for_non_admin(image_client, tokens):
    h = tokens["alice"]
    img = make_image(image_client, h)
    image_client.put(f"/v2/images/{img['id']}/file", data=b"abc", headers={**h, **OCTET})
    assert image_client.post(f"/v2/images/{img['id']}/actions/deactivate", headers=h).status_code == 204
    assert_glance_error(image_client.get(f"/v2/images/{img['id']}/file", headers=h), 403, "deactivated")
    assert image_client.get(f"/v2/images/{img['id']}/file", headers=tokens["admin"]).data == b"abc"
    assert image_client.post(f"/v2/images/{img['id']}/actions/reactivate", headers=h).status_code == 204
    assert image_client.get(f"/v2/images/{img['id']}/file", headers=h).data == b"abc"


def test_protected_image_cannot_be_deleted(image_client, tokens):
    img = make_image(image_client, tokens["alice"], protected=True)
    before = db_state()
    assert_glance_error(image_client.delete(f"/v2/images/{img['id']}", headers=tokens["alice"]), 403, "protected")
    assert db_state() == before


@pytest.mark.parametrize("body,status,words", [
    ({"disk_format": "floppy"}, 400, "disk_format"),
    ({"container_format": "zip"}, 400, "container_format"),
    ({"visibility": "everyone"}, 400, "visibility"),
    ({"name": "n" * 256}, 400, "name"),
    ({"min_disk": -1}, 400, "min_disk"),
    ({"protected": "yes"}, 400, "protected"),
    ({"size": 5}, 403, "read-only"),
    ({"status": "active"}, 403, "read-only"),
    ({"id": "../../etc"}, 400, "id"),
    ({"prop": "v" * 65536}, 400, "prop"),
    ({"prop": 5}, 400, "prop"),
    ({f"p{i}": "v" for i in range(129)}, 413, "properties"),
])
def test_create_rejects_bad_input(image_client, tokens, body, status, words):
    before = db_state()
    assert_glance_error(image_client.post("/v2/images", json=body, headers=tokens["alice"]), status, words)
    assert db_state() == before


def test_create_rejects_malformed_json_and_no_token(image_client, tokens):
    before = db_state()
    r = image_client.post("/v2/images", data=b"{nope", headers={**tokens["alice"], "Content-Type": "application/json"})
    assert_glance_error(r, 400, "malformed json")
    r = image_client.post("/v2/images", json={})
    assert_glance_error(r, 401, "authentication")
    assert_glance_error(image_client.post("/v2/images", json={}, headers=tokens["reader"]), 403, "not authorized")
    assert db_state() == before


def test_patch_bad_input(image_client, tokens):
    h = tokens["alice"]
    img = make_image(image_client, h)
    before = db_state()
    url = f"/v2/images/{img['id']}"
    assert_glance_error(image_client.patch(url, json=[], headers=h), 415, "content-type")
    for ops, status, words in [
        ([{"op": "move", "path": "/name"}], 400, "op"),
        ([{"op": "replace", "path": "/checksum", "value": "x"}], 403, "read-only"),
        ([{"op": "remove", "path": "/nothing"}], 409, "does not exist"),
        ([{"op": "replace", "path": "/disk_format", "value": "nope"}], 400, "disk_format"),
        ([{"op": "add", "path": "/locations/-", "value": {}}], 403, "read-only"),
        ({"op": "add"}, 400, "list"),
    ]:
        assert_glance_error(image_client.patch(url, json=ops, headers={**h, **PATCH}), status, words)
    assert db_state() == before


def _upload(client, h, image_id, data, **headers):
    return client.put(f"/v2/images/{image_id}/file", data=data, headers={**h, **OCTET, **headers})


def test_upload_format_checks(image_client, tokens, tmp_path, settings):
    h = tokens["alice"]
    qcow = qcow2_bytes(tmp_path)
    backing = tmp_path / "base.raw"
    backing.write_bytes(b"\0" * 1024)
    with_backing = qcow2_bytes(tmp_path, extra=("-b", str(backing), "-F", "raw"))
    with_data_file = qcow2_bytes(tmp_path, extra=("-o", f"data_file={tmp_path / 'ext.raw'}"))
    (tmp_path / "iso").mkdir()
    (tmp_path / "iso" / "hello").write_text("hi")
    subprocess.run(["genisoimage", "-quiet", "-o", str(tmp_path / "real.iso"), str(tmp_path / "iso")], check=True)
    iso = (tmp_path / "real.iso").read_bytes()
    cases = [
        ("qcow2", b"plain raw bytes", "is raw, but disk_format is qcow2"),
        ("raw", qcow, "is qcow2, but disk_format is raw"),
        ("qcow2", with_backing, "backing file"),
        ("qcow2", with_data_file, "data file"),
        ("qcow2", qcow[:40], "truncated"),
        ("iso", qcow, "disk_format is iso"),
    ]
    for disk_format, data, words in cases:
        img = make_image(image_client, h, disk_format=disk_format)
        before = db_state()
        assert_glance_error(_upload(image_client, h, img["id"], data), 400, words)
        assert db_state() == before
        assert image_client.get(f"/v2/images/{img['id']}", headers=h).json["status"] == "queued"
    img = make_image(image_client, h, disk_format="iso")
    assert _upload(image_client, h, img["id"], iso).status_code == 204
    img = make_image(image_client, h, disk_format="raw")
    assert _upload(image_client, h, img["id"], iso).status_code == 204
    # nothing half-written stays behind
    assert not [f for f in files_under(settings.state_dir / "storage" / "images") if ".tmp" in f]


def test_truncated_upload_leaves_image_queued(image_client, tokens, settings):
    h = tokens["alice"]
    img = make_image(image_client, h)
    before = db_state()
    # the client announces 1000 bytes and hangs up after 100
    r = image_client.put(f"/v2/images/{img['id']}/file", input_stream=io.BytesIO(b"x" * 100),
                         headers={**h, **OCTET}, environ_overrides={"CONTENT_LENGTH": "1000"})
    assert r.status_code == 400 and r.json["code"] == 400
    assert db_state() == before
    assert files_under(settings.state_dir / "storage" / "images") == []


def test_upload_guards(image_client, tokens):
    h = tokens["alice"]
    img = make_image(image_client, h, disk_format=None, container_format=None)
    img2 = make_image(image_client, h)
    before = db_state()
    assert_glance_error(_upload(image_client, h, img["id"], b"x"), 400, "disk_format")
    assert_glance_error(image_client.put(f"/v2/images/{img2['id']}/file", data=b"x",
                                         headers={**h, "Content-Type": "text/plain"}), 415, "content-type")
    assert_glance_error(_upload(image_client, tokens["bob"], img2["id"], b"x"), 404, "no image")
    assert image_client.get(f"/v2/images/{img['id']}/file", headers=h).status_code == 204
    assert image_client.get(f"/v2/images/{img2['id']}", headers=h).json["status"] == "queued"
    assert db_state() == before


def test_qcow2_header_parser_rejects_v3_external_data_bit(tmp_path):
    from services.storage import formats
    raw = bytearray(qcow2_bytes(tmp_path))
    assert raw[4:8] == struct.pack(">I", 3)
    raw[72:80] = struct.pack(">Q", 1 << 2)
    path = tmp_path / "evil.qcow2"
    path.write_bytes(bytes(raw))
    with pytest.raises(formats.FormatError, match="external data file"):
        formats.check(path, "qcow2")


def test_members_and_tags_bad_input(image_client, tokens):
    a, b = tokens["alice"], tokens["bob"]
    private = make_image(image_client, a, visibility="private")
    shared = make_image(image_client, a, visibility="shared")
    before = db_state()
    url = f"/v2/images/{shared['id']}/members"
    assert_glance_error(image_client.post(f"/v2/images/{private['id']}/members", json={"member": "p-bob"},
                                          headers=a), 403, "shared images")
    assert_glance_error(image_client.post(url, json={}, headers=a), 400, "member")
    assert_glance_error(image_client.post(url, json={"member": 5}, headers=a), 400, "member")
    assert_glance_error(image_client.post(url, json={"member": "p-x"}, headers=b), 404, "no image")
    assert_glance_error(image_client.put(f"{url}/p-bob", json={"status": "accepted"}, headers=a), 404, "not found")
    assert_glance_error(image_client.put(f"/v2/images/{shared['id']}/tags/{'t' * 256}", headers=a), 400, "tag")
    assert_glance_error(image_client.delete(f"/v2/images/{shared['id']}/tags/none", headers=a), 404, "tag")
    assert_glance_error(image_client.put(f"/v2/images/{shared['id']}/tags/x", headers=b), 404, "no image")
    assert_glance_error(image_client.post(f"/v2/images/{shared['id']}/actions/deactivate", headers=b), 404,
                        "no image")
    assert db_state() == before
    image_client.post(url, json={"member": "p-bob"}, headers=a)
    before = db_state()
    assert_glance_error(image_client.post(url, json={"member": "p-bob"}, headers=a), 409, "already exists")
    assert_glance_error(image_client.put(f"{url}/p-bob", json={"status": "maybe"}, headers=b), 400, "status")
    assert_glance_error(image_client.put(f"{url}/p-bob", json={"status": "accepted"}, headers=a), 403,
                        "member itself")
    assert_glance_error(image_client.delete(f"{url}/p-bob", headers=b), 403, "not permitted")
    assert db_state() == before


def test_admin_lists_every_project_image(image_client, tokens):
    private = make_image(image_client, tokens["alice"], visibility="private")
    community = make_image(image_client, tokens["bob"], visibility="community")
    listed = {i["id"] for i in image_client.get("/v2/images", headers=tokens["admin"]).json["images"]}
    assert private["id"] in listed and community["id"] not in listed
    listed = {i["id"] for i in image_client.get("/v2/images?visibility=community",
                                                headers=tokens["admin"]).json["images"]}
    assert listed == {community["id"]}
