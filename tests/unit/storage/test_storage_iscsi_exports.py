"""iSCSI exports through the attachments API (fake target): who gets a target, what connection_info says, who sees
the CHAP password, bad initiator names, refusals that leave nothing, restarts, extend, and the pools API."""
from __future__ import annotations

import pytest

from appliance import pki
from services.storage import Storage
from services.storage.exports import TARGET_PREFIX
from services.storage.models import Attachment
from tests.unit.storage.storage_testlib import V, assert_cinder_error, create, db_state

MV = {"OpenStack-API-Version": "volume 3.44"}
BETA = "iqn.2026-12.dev.egret:beta"
GAMMA = "iqn.1993-08.org.debian:01:5e1fa3c0ffee"
ISCSI_KEYS = {"target_portal", "target_iqn", "target_lun", "target_discovered", "auth_method", "auth_username",
              "auth_password", "format", "access_mode", "node", "volume_id"}


@pytest.fixture
def target(iscsi_target):
    """The fake iSCSI target the apps export through (storage_testlib's iscsi_target)."""
    return iscsi_target


@pytest.fixture
def service(mint_token):
    """Compute's service user, as bootstrap makes it."""
    return {"X-Auth-Token": mint_token(user_id="nova", project_id="service", roles=["service", "member", "reader"],
                                       is_service=True)}


def attach(client, h, volume_id, initiator=None, connector=True, **extra):
    body = {"volume_uuid": volume_id, "instance_uuid": "5b1e0c9e-0000-4000-8000-000000000001", **extra}
    if connector:
        body["connector"] = {"host": "beta", "initiator": initiator}
    return client.post(f"{V}/attachments", json={"attachment": body}, headers={**h, **MV})


def show(client, h, att_id):
    r = client.get(f"{V}/attachments/{att_id}", headers={**h, **MV})
    assert r.status_code == 200, r.json
    return r.json["attachment"]


def login(target, info, initiator=BETA, password=None) -> bool:
    data = info["data"]
    return target.login(data["target_iqn"], initiator, data["auth_username"],
                        password if password is not None else data["auth_password"])


# --- export, connection_info, unexport ---------------------------------------------------------------------------
def test_an_initiator_gets_the_volume_over_iscsi_for_itself_alone(volume_client, tokens, service, target, settings):
    vol = create(volume_client, tokens["alice"])
    r = attach(volume_client, service, vol["id"], BETA)
    assert r.status_code == 200, r.json
    att = r.json["attachment"]
    info = att["connection_info"]
    assert info["driver_volume_type"] == "iscsi" and set(info["data"]) == ISCSI_KEYS
    data = info["data"]
    assert data["target_iqn"] == f"iqn.2026-12.dev.egret:attachment-{att['id']}"
    assert data["target_portal"] == "192.0.2.10:3260" and data["target_lun"] == 1
    assert data["target_discovered"] is False and data["auth_method"] == "CHAP"
    assert len(data["auth_password"]) >= 16 and data["auth_username"]
    assert data["format"] == "raw" and data["access_mode"] == "rw" and data["volume_id"] == vol["id"]
    assert data["node"] == pki.node_name(settings)
    assert info["attachment_id"] == att["id"] and info["serial"] == vol["id"]
    # the target serves the driver's path to this initiator, with this account, and nobody else
    exported = target.targets()[data["target_iqn"]]
    assert exported["path"] == f"/nonexistent/fake/volume-{vol['id']}"
    assert exported["initiators"] == [BETA] and exported["accounts"] == [data["auth_username"]]
    assert login(target, info)
    assert not login(target, info, initiator=GAMMA)
    assert not login(target, info, password="wrong-password-0000")
    # two attachments never share credentials
    other = create(volume_client, tokens["alice"])
    second = attach(volume_client, service, other["id"], BETA).json["attachment"]["connection_info"]["data"]
    assert second["auth_password"] != data["auth_password"] and second["auth_username"] != data["auth_username"]


def test_the_lifecycle_compute_drives(volume_client, tokens, service, target):
    vol = create(volume_client, tokens["alice"])
    att = attach(volume_client, service, vol["id"], connector=False).json["attachment"]
    assert att["connection_info"] == {} and target.targets() == {}
    # the connector arrives with the update (Nova's attachment_update), and then the volume is exported
    r = volume_client.put(f"{V}/attachments/{att['id']}", json={"attachment": {"connector": {
        "host": "beta", "initiator": BETA}}}, headers={**service, **MV})
    info = r.json["attachment"]["connection_info"]
    assert info["driver_volume_type"] == "iscsi" and login(target, info)
    # the same connector again changes nothing (a retried update keeps its credentials)
    again = volume_client.put(f"{V}/attachments/{att['id']}", json={"attachment": {"connector": {
        "host": "beta", "initiator": BETA}}}, headers={**service, **MV}).json["attachment"]["connection_info"]
    assert again == info and len(target.targets()) == 1
    assert volume_client.post(f"{V}/attachments/{att['id']}/action", json={"os-complete": None},
                              headers={**service, **MV}).status_code == 204
    assert volume_client.get(f"{V}/volumes/{vol['id']}", headers=tokens["alice"]).json["volume"]["status"] == "in-use"
    assert volume_client.delete(f"{V}/attachments/{att['id']}", headers={**service, **MV}).status_code == 200
    assert target.targets() == {} and not login(target, info)
    assert volume_client.get(f"{V}/volumes/{vol['id']}", headers=tokens["alice"]).json["volume"]["status"] == \
        "available"


def test_a_retried_update_brings_back_a_target_tgtd_lost(volume_client, tokens, service, target):
    vol = create(volume_client, tokens["alice"])
    info = attach(volume_client, service, vol["id"], BETA).json["attachment"]["connection_info"]
    target.unexport(info["data"]["target_iqn"])    # gone from tgtd, still recorded
    r = volume_client.put(f"{V}/attachments/{info['attachment_id']}", json={"attachment": {"connector": {
        "host": "beta", "initiator": BETA}}}, headers={**service, **MV})
    assert r.json["attachment"]["connection_info"] == info and login(target, info)
    target.stop()                                  # tgtd died: started again, with the export
    r = volume_client.put(f"{V}/attachments/{info['attachment_id']}", json={"attachment": {"connector": {
        "host": "beta", "initiator": BETA}}}, headers={**service, **MV})
    assert r.status_code == 200 and target.starts == 2 and login(target, info)
    target.stop()
    target.unavailable = "tgtd is not installed (Debian package tgt)"
    r = volume_client.put(f"{V}/attachments/{info['attachment_id']}", json={"attachment": {"connector": {
        "host": "beta", "initiator": BETA}}}, headers={**service, **MV})
    assert_cinder_error(r, 409, "tgtd is not installed")


def test_another_initiator_gets_a_new_export_and_none_goes_back_to_the_file(volume_client, tokens, service, target):
    vol = create(volume_client, tokens["alice"])
    first = attach(volume_client, service, vol["id"], BETA).json["attachment"]
    old = first["connection_info"]

    def update(initiator):
        r = volume_client.put(f"{V}/attachments/{first['id']}", json={"attachment": {"connector": {
            "host": "gamma", "initiator": initiator}}}, headers={**service, **MV})
        assert r.status_code == 200, r.json
        return r.json["attachment"]["connection_info"]

    new = update(GAMMA)
    assert login(target, new, initiator=GAMMA) and not login(target, new, initiator=BETA)
    assert new["data"]["auth_password"] != old["data"]["auth_password"] and not login(target, old)
    assert target.targets()[new["data"]["target_iqn"]]["initiators"] == [GAMMA]   # replaced, never widened
    local = update(None)
    assert local["driver_volume_type"] == "file" and target.targets() == {}
    assert Attachment.get_by_id(first["id"]).export is None


def test_without_an_initiator_connection_info_is_the_file_as_before(volume_client, tokens, service, target):
    for initiator in (None, ""):
        vol = create(volume_client, tokens["alice"])
        info = attach(volume_client, service, vol["id"], initiator).json["attachment"]["connection_info"]
        assert info["driver_volume_type"] == "file" and set(info["data"]) == {"path", "format", "name",
                                                                               "access_mode", "node"}
    assert target.targets() == {} and not target.running   # tgtd is not even started for them


# --- bad initiator names ------------------------------------------------------------------------------------------
BAD_INITIATORS = [
    "iqn.test", "iqn.2026-13.dev.egret:beta", "iqn.26-12.dev.egret:beta", "iqn.2026-12", "iqn.2026-12.:x",
    "iqn.2026-12.-dev.egret:x", "eui.02004567A425678D", "beta",
    # tgtadm passes the name in "key=value,key=value": this one would open the ACL to every initiator
    "iqn.2026-12.dev.egret:a,initiator-address=ALL", "iqn.2026-12.dev.egret:a=b",
    "iqn.2026-12.dev.egret:a b", "iqn.2026-12.dev.egret:a\tb", "iqn.2026-12.dev.egret:beta\n",
    "iqn.2026-12.dev.egret:\x00", "iqn.2026-12.dev.egret:\x1b[31m", "iqn.2026-12.dev.egret:ünï",
    "iqn.2026-12.dev.egret:$(reboot)", "iqn.2026-12.dev.egret:../../etc", "iqn.2026-12.dev.egret:" + "x" * 202,
    12345, True, ["iqn.2026-12.dev.egret:beta"], {"name": "iqn.2026-12.dev.egret:beta"},
]


@pytest.mark.parametrize("initiator", BAD_INITIATORS, ids=[repr(b)[:40] for b in BAD_INITIATORS])
def test_a_bad_initiator_is_refused_before_anything_is_made(volume_client, tokens, service, target, initiator):
    vol = create(volume_client, tokens["alice"])
    reserved = attach(volume_client, service, create(volume_client, tokens["alice"])["id"], connector=False)
    before = db_state()
    r = attach(volume_client, service, vol["id"], initiator)
    assert assert_cinder_error(r, 400, "attachment/connector/initiator") == "badRequest"
    r = volume_client.put(f"{V}/attachments/{reserved.json['attachment']['id']}", json={"attachment": {
        "connector": {"host": "beta", "initiator": initiator}}}, headers={**service, **MV})
    assert_cinder_error(r, 400, "attachment/connector/initiator")
    # checked before the volume is looked up, as Cinder validates bodies first
    assert_cinder_error(attach(volume_client, service, "no-such-volume", initiator), 400, "initiator")
    assert db_state() == before and target.targets() == {}
    assert "\x00" not in r.get_data(as_text=True) and "\x1b" not in r.get_data(as_text=True)


def test_names_initiators_really_use_are_accepted(volume_client, tokens, service, target):
    longest = "iqn.2026-12.dev.egret:" + "x" * (223 - len("iqn.2026-12.dev.egret:"))
    for name in (GAMMA, "iqn.1991-05.com.microsoft:host-7.corp.example.com", "iqn.2004-10.com.egret",
                 "IQN.2026-12.Dev.Egret:Node_1", longest):
        vol = create(volume_client, tokens["alice"])
        r = attach(volume_client, service, vol["id"], name)
        assert r.status_code == 200, (name, r.json)
        assert target.targets()[r.json["attachment"]["connection_info"]["data"]["target_iqn"]]["initiators"] == \
            [name]


# --- refusals leave nothing -----------------------------------------------------------------------------------------
def test_no_target_on_this_node_is_a_409_naming_it_and_leaves_nothing(volume_client, tokens, service, target,
                                                                      settings):
    target.unavailable = "tgtd is not installed (Debian package tgt)"
    vol = create(volume_client, tokens["alice"])
    before = db_state()
    r = attach(volume_client, service, vol["id"], BETA)
    assert assert_cinder_error(r, 409, "tgtd is not installed") == "conflictingRequest"
    message = r.json["conflictingRequest"]["message"]
    assert f"Storage node {pki.node_name(settings)} cannot export volume {vol['id']} over iSCSI" in message
    assert db_state() == before and target.targets() == {}
    assert volume_client.get(f"{V}/volumes/{vol['id']}", headers=tokens["alice"]).json["volume"]["status"] == \
        "available"
    # the same volume attached locally still works
    assert attach(volume_client, service, vol["id"], None).status_code == 200


def test_an_export_that_fails_halfway_leaves_nothing(volume_client, tokens, service, target):
    vol = create(volume_client, tokens["alice"])
    before = db_state()
    target.fail_next = "export"
    assert_cinder_error(attach(volume_client, service, vol["id"], BETA), 409, "fake failure in export")
    assert db_state() == before and target.targets() == {}
    # and the update path: the attachment stays as it was (reserved, no export)
    att = attach(volume_client, service, vol["id"], connector=False).json["attachment"]
    before = db_state()
    target.fail_next = "export"
    r = volume_client.put(f"{V}/attachments/{att['id']}", json={"attachment": {"connector": {
        "host": "beta", "initiator": BETA}}}, headers={**service, **MV})
    assert_cinder_error(r, 409, "cannot export")
    assert db_state() == before and target.targets() == {}


def test_a_row_that_cannot_be_written_takes_its_target_with_it(volume_client, tokens, service, target, monkeypatch):
    vol = create(volume_client, tokens["alice"])

    def broken(*a, **kw):
        raise RuntimeError("disk full")
    monkeypatch.setattr(Attachment, "save", broken)
    assert attach(volume_client, service, vol["id"], BETA).status_code == 500
    assert target.targets() == {}


def test_a_target_that_will_not_go_keeps_its_attachment(volume_client, tokens, service, target):
    vol = create(volume_client, tokens["alice"])
    att = attach(volume_client, service, vol["id"], BETA).json["attachment"]
    target.fail_next = "unexport"
    r = volume_client.delete(f"{V}/attachments/{att['id']}", headers={**service, **MV})
    assert_cinder_error(r, 409, "could not remove the iSCSI target")
    assert Attachment.get_or_none(Attachment.id == att["id"]) is not None and len(target.targets()) == 1
    assert volume_client.delete(f"{V}/attachments/{att['id']}", headers={**service, **MV}).status_code == 200
    assert target.targets() == {}


def test_legacy_detach_and_force_delete_take_the_target_away(volume_client, tokens, service, target):
    h = tokens["alice"]
    vol = create(volume_client, h)
    attach(volume_client, service, vol["id"], BETA)
    assert len(target.targets()) == 1
    r = volume_client.post(f"{V}/volumes/{vol['id']}/action", json={"os-detach": {}}, headers=h)
    assert r.status_code == 202 and target.targets() == {}
    doomed = create(volume_client, h)
    attach(volume_client, service, doomed["id"], BETA)
    r = volume_client.post(f"{V}/volumes/{doomed['id']}/action", json={"os-force_delete": {}},
                           headers=tokens["admin"])
    assert r.status_code == 202, r.json
    assert target.targets() == {} and Attachment.select().count() == 0


def test_a_qcow2_volume_has_one_writer(volume_client, tokens, service, target, driver, monkeypatch):
    """Two QEMUs (one of them over iSCSI) would each rewrite a qcow2 file's metadata: a multiattach qcow2 volume
    is exported only while it has no other attachment, and gets none while exported."""
    volume_client.post(f"{V}/types", json={"volume_type": {"name": "multi", "extra_specs": {
        "multiattach": "<is> True"}}}, headers=tokens["admin"])
    plain = driver.connection_info
    monkeypatch.setattr(driver, "connection_info", lambda v: {**plain(v), "data": {**plain(v)["data"],
                                                                                    "format": "qcow2"}})
    vol = create(volume_client, tokens["alice"], volume_type="multi")
    assert attach(volume_client, service, vol["id"], BETA).status_code == 200
    assert_cinder_error(attach(volume_client, service, vol["id"], None), 400, "one server at a time")
    other = create(volume_client, tokens["alice"], volume_type="multi")
    assert attach(volume_client, service, other["id"], None).status_code == 200
    assert_cinder_error(attach(volume_client, service, other["id"], GAMMA), 400, "one server at a time")
    assert len(target.targets()) == 1
    # a raw volume is a block device: shared as a multiattach volume is
    monkeypatch.setattr(driver, "connection_info", plain)
    raw = create(volume_client, tokens["alice"], volume_type="multi")
    assert attach(volume_client, service, raw["id"], BETA).status_code == 200
    assert attach(volume_client, service, raw["id"], None).status_code == 200


# --- who sees the CHAP password -------------------------------------------------------------------------------------
def test_a_member_never_sees_the_chap_password_compute_does(volume_client, tokens, service, mint_token, target):
    h = tokens["alice"]
    vol = create(volume_client, h)
    r = attach(volume_client, h, vol["id"], BETA)
    assert r.status_code == 200, r.json
    att = r.json["attachment"]
    assert "auth_password" not in att["connection_info"]["data"]
    assert att["connection_info"]["data"]["auth_username"] and att["connection_info"]["driver_volume_type"] == \
        "iscsi"
    assert "auth_password" not in show(volume_client, h, att["id"])["connection_info"]["data"]
    assert "auth_password" not in show(volume_client, tokens["reader"], att["id"])["connection_info"]["data"]
    listed = volume_client.get(f"{V}/attachments/detail", headers={**h, **MV}).json["attachments"]
    assert [a["id"] for a in listed] == [att["id"]] and "auth_password" not in listed[0]["connection_info"]["data"]
    updated = volume_client.put(f"{V}/attachments/{att['id']}", json={"attachment": {"connector": {
        "host": "beta", "initiator": BETA}}}, headers={**h, **MV}).json["attachment"]
    assert "auth_password" not in updated["connection_info"]["data"]
    password = Attachment.get_by_id(att["id"]).export["auth_password"]
    assert password not in r.get_data(as_text=True)
    # compute's service user gets it where compute reads connection_info (its update, its listing by volume), an
    # admin everywhere; it is the one the target checks
    info = volume_client.put(f"{V}/attachments/{att['id']}", json={"attachment": {"connector": {
        "host": "beta", "initiator": BETA}}}, headers={**service, **MV}).json["attachment"]["connection_info"]
    assert info["data"]["auth_password"] == password and login(target, info)
    listed = volume_client.get(f"{V}/attachments/detail?volume_id={vol['id']}", headers={**service, **MV}).json
    assert listed["attachments"][0]["connection_info"]["data"]["auth_password"] == password
    for who in (tokens["admin"], {"X-Auth-Token": mint_token(user_id="nova", project_id="service",
                                                              roles=["admin", "service"], is_service=True)}):
        assert show(volume_client, who, att["id"])["connection_info"]["data"]["auth_password"] == password


# --- restart --------------------------------------------------------------------------------------------------------
def test_restart_exports_again_what_tgtd_lost_and_removes_what_has_no_attachment(volume_client, tokens, service,
                                                                                  target, settings, driver, creds):
    kept = attach(volume_client, service, create(volume_client, tokens["alice"])["id"], BETA).json["attachment"]
    gone = attach(volume_client, service, create(volume_client, tokens["alice"])["id"], GAMMA).json["attachment"]
    info = kept["connection_info"]
    # what a crash can leave: a target tgtd lost, a target whose attachment row went, and someone else's target
    target.unexport(info["data"]["target_iqn"])
    Attachment.delete().where(Attachment.id == gone["id"]).execute()
    target.export("iqn.2001-04.com.example:not-ours", "/nonexistent/y", BETA, "other", "password-other-000")
    assert not login(target, info)
    report = Storage(settings, driver, creds, target=target).reconcile()
    assert report["exports_restored"] == 1 and report["exports_removed"] == 1 and report["exports_failed"] == 0
    assert set(target.targets()) == {info["data"]["target_iqn"], "iqn.2001-04.com.example:not-ours"}
    assert login(target, info)   # the same credentials: the remote QEMU logs in again with what it has


def test_restart_starts_tgtd_only_when_an_export_needs_it(volume_client, tokens, service, target, settings, driver,
                                                           creds):
    attach(volume_client, service, create(volume_client, tokens["alice"])["id"], None)
    Storage(settings, driver, creds, target=target).reconcile()
    assert not target.running and target.starts == 0
    exported = attach(volume_client, service, create(volume_client, tokens["alice"])["id"], BETA).json
    target.stop()
    report = Storage(settings, driver, creds, target=target).reconcile()
    assert target.running and report["exports_restored"] == 1
    assert login(target, exported["attachment"]["connection_info"])


def test_restart_with_no_target_reports_the_exports_it_could_not_restore(volume_client, tokens, service, target,
                                                                         settings, driver, creds):
    attach(volume_client, service, create(volume_client, tokens["alice"])["id"], BETA)
    target.stop()
    target.unavailable = "tgtd is not installed (Debian package tgt)"
    report = Storage(settings, driver, creds, target=target).reconcile()
    assert report["exports_failed"] == 1 and report["exports_restored"] == 0


def test_a_tgtd_started_again_for_one_export_brings_back_the_others(volume_client, tokens, service, target):
    first = attach(volume_client, service, create(volume_client, tokens["alice"])["id"], BETA).json["attachment"]
    target.stop()   # died while the service ran
    second = attach(volume_client, service, create(volume_client, tokens["alice"])["id"], GAMMA)
    assert second.status_code == 200
    assert login(target, first["connection_info"]) and len(target.targets()) == 2


# --- extend ---------------------------------------------------------------------------------------------------------
def test_extending_an_exported_volume_is_refused(volume_client, tokens, service, target, driver):
    h, admin = tokens["alice"], tokens["admin"]
    vol = create(volume_client, h)
    att = attach(volume_client, service, vol["id"], BETA).json["attachment"]
    volume_client.post(f"{V}/attachments/{att['id']}/action", json={"os-complete": None}, headers={**service, **MV})
    extend = {"os-extend": {"new_size": 2}}
    r = volume_client.post(f"{V}/volumes/{vol['id']}/action", json=extend, headers=h)
    assert_cinder_error(r, 400, "detach it from servers on other nodes first")
    # an admin's reset-status does not make the target's LUN any bigger
    volume_client.post(f"{V}/volumes/{vol['id']}/action", json={"os-reset_status": {"status": "available"}},
                       headers=admin)
    r = volume_client.post(f"{V}/volumes/{vol['id']}/action", json=extend, headers=h)
    assert_cinder_error(r, 400, "exported over iSCSI")
    assert driver.virtual_size(vol["id"]) == 1024 ** 3
    # without the export the same volume extends
    volume_client.delete(f"{V}/attachments/{att['id']}", headers={**service, **MV})
    assert volume_client.post(f"{V}/volumes/{vol['id']}/action", json=extend, headers=h).status_code == 202
    assert driver.virtual_size(vol["id"]) == 2 * 1024 ** 3


# --- pools ----------------------------------------------------------------------------------------------------------
POOLS = f"{V}/scheduler-stats/get_pools"


def test_pools_name_the_node_as_volumes_do_and_say_iscsi(volume_client, tokens, service, settings):
    create(volume_client, tokens["alice"], size=3)
    vol = create(volume_client, tokens["alice"])
    host = volume_client.get(f"{V}/volumes/{vol['id']}", headers=tokens["admin"]).json["volume"][
        "os-vol-host-attr:host"]
    assert host == f"{pki.node_name(settings)}@file#file"
    for who in ("admin", "service"):
        h = service if who == "service" else tokens["admin"]
        for query in ("?detail=true", "?detail=True"):   # openstacksdk sends True
            r = volume_client.get(POOLS + query, headers=h)
            assert r.status_code == 200, r.json
            (pool,) = r.json["pools"]
            assert pool["name"] == host
            caps = pool["capabilities"]
            assert caps["pool_name"] == "file" and caps["volume_backend_name"] == "file"
            assert caps["vendor_name"] == "Egret" and caps["driver_version"]
            assert caps["storage_protocol"] == "iSCSI" and caps["reserved_percentage"] == 0
            assert caps["thin_provisioning_support"] is True
            assert caps["total_capacity_gb"] == "infinite" and caps["free_capacity_gb"] == "infinite"
            assert caps["total_volumes"] == 2 and caps["allocated_capacity_gb"] == 4
    for query in ("", "?detail=false", "?detail=0"):
        assert volume_client.get(POOLS + query, headers=service).json == {"pools": [{"name": host}]}


def test_pools_say_the_backends_own_kind_without_a_target(volume_client, tokens, target):
    target.unavailable = "tgtd is not installed (Debian package tgt)"
    caps = volume_client.get(POOLS + "?detail=true", headers=tokens["admin"]).json["pools"][0]["capabilities"]
    assert caps["storage_protocol"] == "fake"   # the fake driver's kind ("file" on the file backend)


def test_pools_are_for_admins_and_compute_only(volume_client, tokens):
    for who in ("alice", "reader"):
        r = volume_client.get(POOLS + "?detail=true", headers=tokens[who])
        assert assert_cinder_error(r, 403, "scheduler_extension:scheduler_stats:get_pools") == "forbidden"
    assert volume_client.get(POOLS).status_code == 401
    assert_cinder_error(volume_client.get(POOLS + "?detail=maybe", headers=tokens["admin"]), 400, "detail")
