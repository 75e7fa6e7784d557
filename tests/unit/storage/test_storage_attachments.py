"""Attachments API and legacy actions: the contract compute depends on, multiattach, and bad input."""
from __future__ import annotations

from tests.unit.storage.storage_testlib import db_state
from tests.unit.storage.storage_testlib import V, assert_cinder_error, create

MV = {"OpenStack-API-Version": "volume 3.44"}
# what compute on the volume's own node sends: no initiator name, so it opens the volume's file (iSCSI:
# test_storage_iscsi_exports.py)
CONNECTOR = {"host": "node1", "initiator": None}


def attach(client, h, volume_id, instance="inst-1", connector=None):
    body = {"attachment": {"volume_uuid": volume_id, "instance_uuid": instance}}
    if connector:
        body["attachment"]["connector"] = connector
    r = client.post(f"{V}/attachments", json=body, headers={**h, **MV})
    return r


def test_attachment_flow_compute_uses(volume_client, tokens):
    h = tokens["alice"]
    vol = create(volume_client, h)
    r = attach(volume_client, h, vol["id"])
    assert r.status_code == 200
    att = r.json["attachment"]
    assert att["status"] == "reserved" and att["connection_info"] == {}
    assert volume_client.get(f"{V}/volumes/{vol['id']}", headers=h).json["volume"]["status"] == "reserved"
    r = volume_client.put(f"{V}/attachments/{att['id']}", json={"attachment": {"connector": CONNECTOR}},
                          headers={**h, **MV})
    info = r.json["attachment"]["connection_info"]
    assert info["driver_volume_type"] == "file" and info["data"]["path"].endswith(f"volume-{vol['id']}")
    assert info["data"]["format"] == "raw" and info["data"]["name"] == f"volume-{vol['id']}"
    assert volume_client.get(f"{V}/volumes/{vol['id']}", headers=h).json["volume"]["status"] == "attaching"
    r = volume_client.post(f"{V}/attachments/{att['id']}/action", json={"os-complete": None}, headers={**h, **MV})
    assert r.status_code == 204
    shown = volume_client.get(f"{V}/volumes/{vol['id']}", headers=h).json["volume"]
    assert shown["status"] == "in-use" and shown["attachments"][0]["server_id"] == "inst-1"
    assert shown["attachments"][0]["attachment_id"] == att["id"]
    # attached volumes are neither deleted nor attached twice (no multiattach)
    before = db_state()
    assert_cinder_error(volume_client.delete(f"{V}/volumes/{vol['id']}", headers=h), 400, "attached")
    assert_cinder_error(attach(volume_client, h, vol["id"], "inst-2"), 400, "in-use")
    assert db_state() == before
    assert volume_client.delete(f"{V}/attachments/{att['id']}", headers={**h, **MV}).status_code == 200
    assert volume_client.get(f"{V}/volumes/{vol['id']}", headers=h).json["volume"]["status"] == "available"


def test_create_with_connector_returns_connection_info(volume_client, tokens):
    h = tokens["alice"]
    vol = create(volume_client, h)
    att = attach(volume_client, h, vol["id"], connector=CONNECTOR).json["attachment"]
    assert att["status"] == "attaching" and att["connection_info"]["data"]["path"]
    listed = volume_client.get(f"{V}/attachments?volume_id={vol['id']}", headers={**h, **MV}).json["attachments"]
    assert [a["id"] for a in listed] == [att["id"]]


def test_service_token_can_attach_other_projects_volume(volume_client, tokens, mint_token):
    vol = create(volume_client, tokens["alice"])
    service = {"X-Auth-Token": mint_token(user_id="nova", project_id="service", roles=["service", "member"],
                                          is_service=True)}
    r = attach(volume_client, service, vol["id"], connector=CONNECTOR)
    assert r.status_code == 200, r.json
    listed = volume_client.get(f"/v3/service/attachments?volume_id={vol['id']}", headers=service).json
    assert [a["id"] for a in listed["attachments"]] == [r.json["attachment"]["id"]]
    # a member of another project sees none of it
    bob = volume_client.get(f"/v3/p-bob/attachments?volume_id={vol['id']}", headers=tokens["bob"]).json
    assert bob["attachments"] == []


def test_multiattach_only_when_type_allows(volume_client, tokens):
    a, admin = tokens["alice"], tokens["admin"]
    volume_client.post(f"{V}/types", json={"volume_type": {"name": "multi", "extra_specs": {
        "multiattach": "<is> True"}}}, headers=admin)
    vol = create(volume_client, a, volume_type="multi")
    ids = []
    for inst in ("i1", "i2"):
        att = attach(volume_client, a, vol["id"], inst, CONNECTOR).json["attachment"]
        volume_client.post(f"{V}/attachments/{att['id']}/action", json={"os-complete": None}, headers=a)
        ids.append(att["id"])
    shown = volume_client.get(f"{V}/volumes/{vol['id']}", headers=a).json["volume"]
    assert shown["status"] == "in-use" and len(shown["attachments"]) == 2
    volume_client.delete(f"{V}/attachments/{ids[0]}", headers=a)
    assert volume_client.get(f"{V}/volumes/{vol['id']}", headers=a).json["volume"]["status"] == "in-use"
    volume_client.delete(f"{V}/attachments/{ids[1]}", headers=a)
    assert volume_client.get(f"{V}/volumes/{vol['id']}", headers=a).json["volume"]["status"] == "available"


def test_legacy_actions(volume_client, tokens):
    h = tokens["alice"]
    vol = create(volume_client, h)
    url = f"{V}/volumes/{vol['id']}/action"

    def status():
        return volume_client.get(f"{V}/volumes/{vol['id']}", headers=h).json["volume"]["status"]

    assert volume_client.post(url, json={"os-reserve": None}, headers=h).status_code == 202
    assert status() == "reserved"
    assert volume_client.post(url, json={"os-unreserve": None}, headers=h).status_code == 202
    assert status() == "available"
    r = volume_client.post(url, json={"os-initialize_connection": {"connector": CONNECTOR}}, headers=h)
    assert r.json["connection_info"]["driver_volume_type"] == "file"
    volume_client.post(url, json={"os-reserve": None}, headers=h)
    assert volume_client.post(url, json={"os-attach": {"instance_uuid": "i9", "mountpoint": "/dev/vdb"}},
                              headers=h).status_code == 202
    assert status() == "in-use"
    assert volume_client.post(url, json={"os-begin_detaching": None}, headers=h).status_code == 202
    assert status() == "detaching"
    assert volume_client.post(url, json={"os-roll_detaching": None}, headers=h).status_code == 202
    assert status() == "in-use"
    assert volume_client.post(url, json={"os-detach": {}}, headers=h).status_code == 202
    assert status() == "available"


def test_attachment_bad_input(volume_client, tokens):
    h = {**tokens["alice"], **MV}
    vol = create(volume_client, tokens["alice"])
    before = db_state()
    for body, status, words in [
        ({"attachment": {"instance_uuid": "i"}}, 400, "volume_uuid"),
        ({"attachment": {"volume_uuid": vol["id"], "connector": "host1"}}, 400, "connector"),
        ({"attachment": {"volume_uuid": vol["id"], "mode": "rwx"}}, 400, "mode"),
        ({"attachment": {"volume_uuid": "missing"}}, 404, "could not be found"),
        ({"attach": {}}, 400, "attachment"),
    ]:
        assert_cinder_error(volume_client.post(f"{V}/attachments", json=body, headers=h), status, words)
    assert_cinder_error(volume_client.put(f"{V}/attachments/nope", json={"attachment": {"connector": CONNECTOR}},
                                          headers=h), 404, "could not be found")
    assert db_state() == before
    att = attach(volume_client, tokens["alice"], vol["id"]).json["attachment"]
    before = db_state()
    assert_cinder_error(volume_client.post(f"{V}/attachments/{att['id']}/action", json={"os-complete": None},
                                           headers=h), 400, "no connector")
    assert_cinder_error(volume_client.post(f"{V}/attachments/{att['id']}/action", json={"os-jump": None},
                                           headers=h), 400, "no attachment action")
    assert_cinder_error(volume_client.get(f"{V}/attachments/{att['id']}", headers=tokens["bob"]), 404,
                        "could not be found")
    assert db_state() == before
