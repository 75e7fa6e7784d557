"""Hostile bodies on every Glance and Cinder JSON route: never a 5xx, refusals in each API's format, nothing changed;
the named cases (deep nesting, lone surrogate, min_ram 10**30, NUL in names, unknown availability zone,
non-boolean booleans) and S3's SigV2 with an unparsable Date."""
import json

import pytest

from appliance.testing import hostile
from tests.unit.storage.storage_testlib import ALICE, V, create, db_state

# (api, method, path with {image}/{volume}/{snapshot} placeholders, wrapper, fields, a valid document, persona,
#  whether every hostile body must be refused: Glance's PATCH takes a list, so [] is a valid (empty) patch)
GLANCE_FIELDS = ["name", "disk_format", "container_format", "visibility", "min_ram", "min_disk", "protected",
                 "tags", "os_hidden", "id", "architecture"]
VOLUME_FIELDS = ["size", "name", "description", "availability_zone", "volume_type", "metadata", "snapshot_id",
                 "source_volid", "imageRef", "multiattach", "bootable"]
ROUTES = [
    ("image", "POST", "/v2/images", None, GLANCE_FIELDS,
     {"name": "i", "disk_format": "qcow2", "container_format": "bare"}, "alice", True),
    ("image", "PATCH", "/v2/images/{image}", None, ["op", "path", "value"], None, "alice", False),
    ("image", "POST", "/v2/images/{image}/members", None, ["member"], {"member": "p-bob"}, "alice", True),
    ("volume", "POST", f"{V}/volumes", "volume", VOLUME_FIELDS, {"size": 1, "name": "v"}, "alice", True),
    ("volume", "PUT", f"{V}/volumes/{{volume}}", "volume", ["name", "description", "metadata"], {"name": "w"},
     "alice", True),
    ("volume", "POST", f"{V}/volumes/{{volume}}/metadata", "metadata", ["a", "b"], {"a": "1"}, "alice", True),
    ("volume", "POST", f"{V}/volumes/{{volume}}/action", "os-extend", ["new_size"], {"new_size": 2}, "alice", True),
    ("volume", "POST", f"{V}/volumes/{{volume}}/action", "os-set_bootable", ["bootable"], {"bootable": True},
     "alice", True),
    ("volume", "POST", f"{V}/snapshots", "snapshot", ["volume_id", "name", "description", "force", "metadata"],
     {"volume_id": "{volume}", "name": "s"}, "alice", True),
    ("volume", "POST", f"{V}/types", "volume_type", ["name", "description", "extra_specs", "is_public"],
     {"name": "t"}, "admin", True),
    ("volume", "PUT", f"{V}/os-quota-sets/p-alice", "quota_set", ["volumes", "gigabytes", "snapshots"],
     {"volumes": 9}, "admin", True),
    ("volume", "POST", "/v3/p-alice/attachments", "attachment", ["volume_uuid", "instance_uuid", "connector"],
     {"volume_uuid": "{volume}", "instance_uuid": "00000000-0000-0000-0000-000000000001"}, "alice", True),
]
FORMAT = {"image": "glance", "volume": "nova"}


@pytest.fixture
def target(image_client, volume_client, tokens):
    image = image_client.post("/v2/images", json={"name": "fuzz", "disk_format": "raw", "container_format": "bare"},
                              headers=tokens["alice"]).json["id"]
    return {"image": image, "volume": create(volume_client, tokens["alice"])["id"]}


def _client(api, image_client, volume_client):
    return image_client if api == "image" else volume_client


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r[1]} {r[2]} {r[3] or ''}" for r in ROUTES])
def test_hostile_bodies_are_refused_and_change_nothing(apps, image_client, volume_client, tokens, target, route):
    api, method, path, wrapper, fields, base, persona, refuse_all = route
    path, base = path.format(**target), hostile.fill_placeholders(base, target)
    client, fmt, headers = _client(api, image_client, volume_client), FORMAT[api], tokens[persona]
    content_type = "application/openstack-images-v2.1-json-patch" if method == "PATCH" else "application/json"

    def send(raw):
        return client.open(path, method=method, data=raw, content_type=content_type, headers=headers)

    with apps["image"].app_context():
        hostile.fuzz_route(send, fmt, wrapper, fields, base, db_state, refuse_all)


@pytest.mark.parametrize("api,path,doc,field", [
    ("image", "/v2/images", {"name": "i", "min_ram": 10 ** 30}, "min_ram"),
    ("image", "/v2/images", {"name": "a\ud800"}, "name"),
    ("image", "/v2/images", {"name": "evil\x00"}, "name"),
    ("image", "/v2/images", {"name": "i", "protected": "yes"}, "protected"),
    ("image", "/v2/images", {"name": "i", "os_hidden": 1}, "os_hidden"),
    ("volume", f"{V}/volumes", {"volume": {"size": 10 ** 30}}, "volume/size"),
    ("volume", f"{V}/volumes", {"volume": {"size": 1, "name": "a\ud800"}}, "volume/name"),
    ("volume", f"{V}/volumes", {"volume": {"size": 1, "name": "evil\x00"}}, "volume/name"),
    ("volume", f"{V}/volumes", {"volume": {"size": 1, "availability_zone": "mars"}}, "availability_zone"),
    # found by the fuzz test above: a list where the volume's id belongs was a 500
    ("volume", f"{V}/attachments", {"attachment": {"volume_uuid": [None, None]}}, "attachment/volume_uuid"),
])
def test_named_cases(image_client, volume_client, tokens, api, path, doc, field):
    before = db_state()
    resp = _client(api, image_client, volume_client).post(path, data=json.dumps(doc), content_type="application/json",
                                                           headers=tokens["alice"])
    hostile.assert_refused(FORMAT[api], resp, 400, field=field)
    assert db_state() == before


def test_deep_nesting_and_non_boolean_bootable(image_client, volume_client, tokens, target):
    before = db_state()
    deep = b"[" * 100000 + b"]" * 100000
    for client, path, fmt in ((image_client, "/v2/images", "glance"), (volume_client, f"{V}/volumes", "nova")):
        resp = client.post(path, data=deep, content_type="application/json", headers=tokens["alice"])
        assert "nested deeper" in hostile.assert_refused(fmt, resp, 400)
    for value in ("yes", 1, None):
        resp = volume_client.post(f"{V}/volumes/{target['volume']}/action", json={"os-set_bootable": {
            "bootable": value}}, headers=tokens["alice"])
        hostile.assert_refused("nova", resp, 400, field="bootable")
    assert db_state() == before


@pytest.mark.parametrize("date", ["not a date", "Mon, 99 Foo 2026 99:99:99 GMT", "Tue, 31 Feb 2026 10:00:00 GMT",
                                  "Wed, 02 Dec 99999 10:00:00 GMT", "\u00e9\u00e9"])
def test_s3_sigv2_with_an_unparsable_date(s3_client, date):
    resp = s3_client.get("/", headers={"Date": date.encode("utf-8").decode("latin-1"),
                                       "Authorization": f"AWS {ALICE.access}:c2lnbmF0dXJl"})
    assert resp.status_code == 403, resp.data
    assert hostile.error_message("s3", resp)
    assert b"<Code>AccessDenied</Code>" in resp.data


def test_quota_beyond_32_bits_is_refused(volume_client, tokens):
    """Found by the fuzz test on PostgreSQL, whose integer column overflowed into a 500."""
    before = db_state()
    resp = volume_client.put(f"{V}/os-quota-sets/p-alice", json={"quota_set": {"volumes": 2 ** 31}},
                             headers=tokens["admin"])
    hostile.assert_refused(FORMAT["volume"], resp, 400, field="quota_set/volumes")
    assert db_state() == before
    ok = volume_client.put(f"{V}/os-quota-sets/p-alice", json={"quota_set": {"volumes": 2 ** 31 - 1}},
                           headers=tokens["admin"])
    assert ok.status_code == 200 and ok.json["quota_set"]["volumes"] == 2 ** 31 - 1
