"""Cinder v3 API: discovery, microversions, volumes, snapshots, types, quotas, isolation, bad input."""
from __future__ import annotations

import pytest

from tests.unit.storage.storage_testlib import B, V, assert_cinder_error, create, db_state


def test_discovery_and_microversions(volume_client, tokens):
    r = volume_client.get("/")
    assert r.status_code == 300 and r.json["versions"][0]["id"] == "v3.0"
    doc = volume_client.get("/v3/").json["versions"][0]
    assert doc["version"] == "3.70" and doc["min_version"] == "3.0" and doc["status"] == "CURRENT"
    r = volume_client.get(f"{V}/volumes", headers={**tokens["alice"], "OpenStack-API-Version": "volume 3.27"})
    assert r.status_code == 200 and r.headers["OpenStack-API-Version"] == "volume 3.27"
    r = volume_client.get(f"{V}/volumes", headers={**tokens["alice"], "OpenStack-API-Version": "volume 3.99"})
    assert_cinder_error(r, 406, "not supported")
    r = volume_client.get(f"{V}/volumes", headers={**tokens["alice"], "OpenStack-API-Version": "volume x.y"})
    assert_cinder_error(r, 400, "version")


def test_volume_lifecycle(volume_client, tokens, driver):
    h = tokens["alice"]
    vol = create(volume_client, h, metadata={"k": "v"})
    assert vol["status"] == "available" and vol["bootable"] == "false" and vol["metadata"] == {"k": "v"}
    assert driver.exists(vol["id"])
    listed = volume_client.get(f"{V}/volumes", headers=h).json["volumes"]
    assert listed == [{"id": vol["id"], "name": "v", "links": listed[0]["links"]}]
    assert volume_client.get(f"{V}/volumes/detail?name=v", headers=h).json["volumes"][0]["id"] == vol["id"]
    assert volume_client.get(f"{V}/volumes/detail?name=zz", headers=h).json["volumes"] == []
    r = volume_client.put(f"{V}/volumes/{vol['id']}", json={"volume": {"name": "w", "description": "d"}}, headers=h)
    assert r.json["volume"]["name"] == "w"
    r = volume_client.post(f"{V}/volumes/{vol['id']}/action", json={"os-extend": {"new_size": 3}}, headers=h)
    assert r.status_code == 202
    assert volume_client.get(f"{V}/volumes/{vol['id']}", headers=h).json["volume"]["size"] == 3
    assert driver.virtual_size(vol["id"]) == 3 * 1024 ** 3
    r = volume_client.post(f"{V}/volumes/{vol['id']}/action", json={"os-set_bootable": {"bootable": True}}, headers=h)
    assert r.status_code == 200
    assert volume_client.get(f"{V}/volumes/{vol['id']}", headers=h).json["volume"]["bootable"] == "true"
    r = volume_client.post(f"{V}/volumes/{vol['id']}/metadata", json={"metadata": {"a": "b"}}, headers=h)
    assert r.json["metadata"] == {"k": "v", "a": "b"}
    assert volume_client.delete(f"{V}/volumes/{vol['id']}", headers=h).status_code == 202
    assert volume_client.get(f"{V}/volumes/{vol['id']}", headers=h).status_code == 404
    assert not driver.exists(vol["id"])


def test_snapshots_and_volume_sources(volume_client, tokens, driver):
    h = tokens["alice"]
    vol = create(volume_client, h)
    driver.write(vol["id"], 0, b"snapshot me")
    r = volume_client.post(f"{V}/snapshots", json={"snapshot": {"volume_id": vol["id"], "name": "s"}}, headers=h)
    assert r.status_code == 202
    snap = r.json["snapshot"]
    assert volume_client.get(f"{V}/snapshots/{snap['id']}", headers=h).json["snapshot"]["status"] == "available"
    driver.write(vol["id"], 0, b"changed!!!!")
    from_snap = create(volume_client, h, snapshot_id=snap["id"], size=None)
    assert from_snap["size"] == 1 and driver.read(from_snap["id"], 0, 11) == b"snapshot me"
    clone = create(volume_client, h, source_volid=vol["id"], size=2)
    assert driver.read(clone["id"], 0, 11) == b"changed!!!!"
    # a volume with snapshots is not deleted unless cascade
    r = volume_client.delete(f"{V}/volumes/{vol['id']}", headers=h)
    assert_cinder_error(r, 400, "dependent snapshots")
    assert volume_client.delete(f"{V}/snapshots/{snap['id']}", headers=h).status_code == 202
    assert volume_client.get(f"{V}/snapshots", headers=h).json["snapshots"] == []
    assert not driver.snapshot_exists(snap["id"])
    # the volume made from the deleted snapshot still holds its data
    assert driver.read(from_snap["id"], 0, 11) == b"snapshot me"
    assert volume_client.delete(f"{V}/volumes/{vol['id']}", headers=h).status_code == 202


def test_volume_from_image(volume_client, image_client, tokens, driver):
    h = tokens["alice"]
    img = image_client.post("/v2/images", json={"name": "i", "disk_format": "raw", "container_format": "bare"},
                            headers=h).json
    image_client.put(f"/v2/images/{img['id']}/file", data=b"bootsector", headers={
        **h, "Content-Type": "application/octet-stream"})
    vol = create(volume_client, h, imageRef=img["id"], size=None)
    assert vol["bootable"] == "true" and vol["volume_image_metadata"]["image_id"] == img["id"]
    assert driver.read(vol["id"], 0, 10) == b"bootsector"
    queued = image_client.post("/v2/images", json={"name": "q"}, headers=h).json
    before = db_state()
    assert_cinder_error(volume_client.post(f"{V}/volumes", json={"volume": {"imageRef": queued["id"]}}, headers=h),
                        400, "not active")
    assert db_state() == before


def test_driver_failure_sets_error(volume_client, tokens, driver):
    driver.fail_next = "create_volume"
    vol = create(volume_client, tokens["alice"])
    assert vol["status"] == "error"
    assert volume_client.delete(f"{V}/volumes/{vol['id']}", headers=tokens["alice"]).status_code == 202


def test_types_and_quotas(volume_client, tokens):
    a, admin = tokens["alice"], tokens["admin"]
    assert_cinder_error(volume_client.post(f"{V}/types", json={"volume_type": {"name": "x"}}, headers=a), 403,
                        "not authorized")
    r = volume_client.post(f"{V}/types", json={"volume_type": {"name": "multi", "extra_specs": {
        "multiattach": "<is> True"}}}, headers=admin)
    assert r.status_code == 200
    names = [t["name"] for t in volume_client.get(f"{V}/types", headers=a).json["volume_types"]]
    assert names == ["__DEFAULT__", "multi"]
    assert volume_client.get(f"{V}/types/default", headers=a).json["volume_type"]["name"] == "__DEFAULT__"
    vol = create(volume_client, a, volume_type="multi")
    assert vol["multiattach"] is True and vol["volume_type"] == "multi"
    q = volume_client.get(f"{V}/os-quota-sets/p-alice?usage=True", headers=a).json["quota_set"]
    assert q["volumes"] == {"limit": 10, "in_use": 1, "reserved": 0, "allocated": 0}
    assert_cinder_error(volume_client.put(f"{V}/os-quota-sets/p-alice", json={"quota_set": {"volumes": 1}},
                                          headers=a), 403, "not authorized")
    r = volume_client.put(f"{V}/os-quota-sets/p-alice", json={"quota_set": {"volumes": 1, "gigabytes": 5}},
                          headers=admin)
    assert r.status_code == 200 and r.json["quota_set"]["volumes"] == 1
    before = db_state()
    assert_cinder_error(volume_client.post(f"{V}/volumes", json={"volume": {"size": 1}}, headers=a), 413,
                        "volumes allowed")
    assert db_state() == before
    assert_cinder_error(volume_client.get(f"{V}/os-quota-sets/p-bob", headers=a), 403, "not authorized")
    assert volume_client.get(f"{V}/limits", headers=a).json["limits"]["absolute"]["maxTotalVolumes"] == 1


@pytest.mark.parametrize("volume,status,words", [
    ({"size": 0}, 400, "size"),
    ({"size": "big"}, 400, "size"),
    ({"size": True}, 400, "size"),
    ({"size": None}, 400, "size"),
    ({"size": 1, "name": "n" * 256}, 400, "name"),
    ({"size": 1, "metadata": {"k": "v" * 256}}, 400, "metadata"),
    ({"size": 1, "metadata": ["x"]}, 400, "metadata"),
    ({"size": 1, "volume_type": "nope"}, 404, "volume type"),
    ({"size": 1, "snapshot_id": "nope"}, 404, "snapshot"),
    ({"size": 1, "source_volid": "../../etc/passwd"}, 404, "volume"),
    ({"size": 1, "imageRef": "nope"}, 404, "image"),
    ({"size": 2000}, 413, "gigabytes"),
])
def test_create_bad_input(volume_client, tokens, volume, status, words):
    before = db_state()
    r = volume_client.post(f"{V}/volumes", json={"volume": volume}, headers=tokens["alice"])
    assert_cinder_error(r, status, words)
    assert db_state() == before


def test_malformed_bodies_and_actions(volume_client, tokens):
    h = tokens["alice"]
    vol = create(volume_client, h)
    before = db_state()
    assert_cinder_error(volume_client.post(f"{V}/volumes", data=b"{", headers={**h, "Content-Type":
                                                                               "application/json"}), 400, "json")
    assert_cinder_error(volume_client.post(f"{V}/volumes", json={"vol": {}}, headers=h), 400, "volume")
    url = f"{V}/volumes/{vol['id']}/action"
    for body, status, words in [
        ({"os-extend": {"new_size": 1}}, 400, "greater"),
        ({"os-extend": {"new_size": "x"}}, 400, "new_size"),
        ({"os-extend": {}}, 400, "new_size"),
        ({"os-frobnicate": {}}, 400, "no volume action"),
        ({"os-set_bootable": {"bootable": "maybe"}}, 400, "bootable"),
        ({"os-reset_status": {"status": "available"}}, 403, "not authorized"),
        ({"os-detach": {}}, 400, "not attached"),
        ({}, 400, "/"),
    ]:
        assert_cinder_error(volume_client.post(url, json=body, headers=h), status, words)
    assert_cinder_error(volume_client.get(f"{V}/volumes?sort=evil:asc", headers=h), 400, "sort_key")
    assert_cinder_error(volume_client.post(f"{V}/volumes", json={"volume": {"size": 1}}, headers=tokens["reader"]),
                        403, "not authorized")
    assert db_state() == before


def test_project_isolation(volume_client, tokens):
    a, b = tokens["alice"], tokens["bob"]
    vol = create(volume_client, a)
    snap = volume_client.post(f"{V}/snapshots", json={"snapshot": {"volume_id": vol["id"]}}, headers=a).json
    before = db_state()
    assert volume_client.get(f"{B}/volumes/detail", headers=b).json["volumes"] == []
    assert volume_client.get(f"{V}/volumes/detail", headers=b).json["volumes"] == []
    for method, url, body in [
        ("get", f"{B}/volumes/{vol['id']}", None),
        ("put", f"{B}/volumes/{vol['id']}", {"volume": {"name": "x"}}),
        ("delete", f"{B}/volumes/{vol['id']}", None),
        ("post", f"{B}/volumes/{vol['id']}/action", {"os-extend": {"new_size": 5}}),
        ("post", f"{B}/snapshots", {"snapshot": {"volume_id": vol["id"]}}),
        ("post", f"{B}/volumes", {"volume": {"source_volid": vol["id"]}}),
        ("delete", f"{B}/snapshots/{snap['snapshot']['id']}", None),
        ("post", f"{B}/attachments", {"attachment": {"volume_uuid": vol["id"], "instance_uuid": "i"}}),
    ]:
        r = getattr(volume_client, method)(url, json=body, headers=b)
        assert_cinder_error(r, 404, "could not be found")
    assert db_state() == before
    # admin sees everything with all_tenants
    rows = volume_client.get("/v3/p-admin/volumes/detail?all_tenants=1", headers=tokens["admin"]).json["volumes"]
    assert [v["id"] for v in rows] == [vol["id"]]


def test_snapshot_and_type_bad_input(volume_client, tokens):
    a, admin = tokens["alice"], tokens["admin"]
    vol = create(volume_client, a)
    before = db_state()
    for body, status, words in [
        ({"snapshot": {}}, 400, "volume_id"),
        ({"snapshot": {"volume_id": vol["id"], "name": "n" * 256}}, 400, "name"),
        ({"snapshot": {"volume_id": vol["id"], "metadata": {"k": 1}}}, 400, "metadata"),
        ({"snapshot": {"volume_id": "nope"}}, 404, "could not be found"),
        ({"snap": {}}, 400, "snapshot"),
    ]:
        assert_cinder_error(volume_client.post(f"{V}/snapshots", json=body, headers=a), status, words)
    for body, status, words in [
        ({"volume_type": {"name": ""}}, 400, "name"),
        ({"volume_type": {"name": "__DEFAULT__"}}, 409, "already exists"),
        ({"volume_type": {"name": "x", "extra_specs": {"k": 5}}}, 400, "extra_specs"),
        ({"volume_type": {"name": "x", "extra_specs": ["k"]}}, 400, "extra_specs"),
    ]:
        assert_cinder_error(volume_client.post(f"{V}/types", json=body, headers=admin), status, words)
    assert_cinder_error(volume_client.put(f"{V}/os-quota-sets/p-alice", json={"quota_set": {"volumes": "many"}},
                                          headers=admin), 400, "quota_set/volumes")
    assert_cinder_error(volume_client.put(f"{V}/os-quota-sets/p-alice", json={"quota_set": {"cows": 1}},
                                          headers=admin), 400, "quota_set/cows")
    default = volume_client.get(f"{V}/types/default", headers=a).json["volume_type"]
    assert_cinder_error(volume_client.delete(f"{V}/types/{default['id']}", headers=admin), 400, "in use")
    assert_cinder_error(volume_client.get(f"{V}/snapshots/nope", headers=a), 404, "could not be found")
    assert db_state() == before
    # an in-use volume cannot be snapshotted without force, nor extended
    volume_client.post(f"{V}/volumes/{vol['id']}/action", json={"os-reserve": None}, headers=a)
    volume_client.post(f"{V}/volumes/{vol['id']}/action", json={"os-attach": {"instance_uuid": "i"}}, headers=a)
    before = db_state()
    assert_cinder_error(volume_client.post(f"{V}/snapshots", json={"snapshot": {"volume_id": vol["id"]}}, headers=a),
                        400, "in-use")
    assert_cinder_error(volume_client.post(f"{V}/volumes/{vol['id']}/action", json={"os-extend": {"new_size": 4}},
                                           headers=a), 400, "available")
    assert db_state() == before
    r = volume_client.post(f"{V}/snapshots", json={"snapshot": {"volume_id": vol["id"], "force": True}}, headers=a)
    assert r.status_code == 202
