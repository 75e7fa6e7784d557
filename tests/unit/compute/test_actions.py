"""Server actions: state machine, locks, console output, resize, snapshots, volumes and interfaces."""
import pytest

from services.compute.drivers import base
from services.compute.models import Allocation, Instance, database


def act(env, sid, body, api=None, version=None):
    return (api or env.api).post(f"/v2.1/servers/{sid}/action", json=body, version=version)


def status(env, sid):
    return env.api.get(f"/v2.1/servers/{sid}").json["server"]["status"]


def test_power_actions_follow_the_state_machine(env):
    sid = env.boot()
    dom = "egunit-" + sid
    assert act(env, sid, {"os-stop": None}).status_code == 202
    assert status(env, sid) == "SHUTOFF" and env.driver.power_state(dom) == base.SHUTDOWN
    assert act(env, sid, {"os-start": None}).status_code == 202
    assert status(env, sid) == "ACTIVE" and env.driver.power_state(dom) == base.RUNNING
    assert act(env, sid, {"pause": None}).status_code == 202 and status(env, sid) == "PAUSED"
    assert act(env, sid, {"unpause": None}).status_code == 202 and status(env, sid) == "ACTIVE"
    assert act(env, sid, {"suspend": None}).status_code == 202 and status(env, sid) == "SUSPENDED"
    assert act(env, sid, {"resume": None}).status_code == 202 and status(env, sid) == "ACTIVE"
    assert act(env, sid, {"reboot": {"type": "HARD"}}).status_code == 202 and status(env, sid) == "ACTIVE"
    assert act(env, sid, {"reboot": {"type": "SOFT"}}).status_code == 202 and status(env, sid) == "ACTIVE"


@pytest.mark.parametrize("body", [{"os-start": None}, {"unpause": None}, {"resume": None},
                                  {"confirmResize": None}])
def test_action_in_the_wrong_state_is_409_and_changes_nothing(env, body):
    sid = env.boot()
    resp = act(env, sid, body)
    assert resp.status_code == 409
    assert "while it is in vm_state active" in resp.json["conflictingRequest"]["message"]
    assert status(env, sid) == "ACTIVE" and env.driver.power_state("egunit-" + sid) == base.RUNNING


def test_unknown_and_malformed_actions(env):
    sid = env.boot()
    resp = act(env, sid, {"explode": None})
    assert resp.status_code == 400 and "explode" in resp.json["badRequest"]["message"]
    resp = act(env, sid, {"reboot": {"type": "SIDEWAYS"}})
    assert resp.status_code == 400 and "reboot/type" in resp.json["badRequest"]["message"]
    resp = act(env, sid, {"resize": {}})
    assert resp.status_code == 400 and "flavorRef" in resp.json["badRequest"]["message"]


def test_locked_server_refuses_changes_until_unlocked(env):
    sid = env.boot()
    assert act(env, sid, {"lock": {"locked_reason": "maintenance"}}).status_code == 202
    server = env.api.get(f"/v2.1/servers/{sid}").json["server"]
    assert server["locked"] is True and server["locked_reason"] == "maintenance"
    resp = act(env, sid, {"os-stop": None})
    assert resp.status_code == 409 and "locked" in resp.json["conflictingRequest"]["message"]
    assert env.api.delete(f"/v2.1/servers/{sid}").status_code == 409
    assert status(env, sid) == "ACTIVE"
    assert act(env, sid, {"unlock": None}).status_code == 202
    assert act(env, sid, {"os-stop": None}).status_code == 202


def test_console_output(env):
    sid = env.boot()
    resp = act(env, sid, {"os-getConsoleOutput": {}})
    assert resp.status_code == 200 and "EGRET-GUEST-BOOTED" in resp.json["output"]
    assert act(env, sid, {"os-getConsoleOutput": {"length": 0}}).json["output"] == ""
    resp = act(env, sid, {"os-getConsoleOutput": {"length": "x"}})
    assert resp.status_code == 400 and "length" in resp.json["badRequest"]["message"]


def _claim(sid):
    with database.connection_context():
        alloc = Allocation.get(Allocation.instance_id == sid)
        return alloc.vcpus, alloc.memory_mb, alloc.disk_gb


def test_resize_confirm_and_revert(env):
    sid = env.boot()
    nano = _claim(sid)
    assert act(env, sid, {"resize": {"flavorRef": "1"}}).status_code == 202
    server = env.api.get(f"/v2.1/servers/{sid}").json["server"]
    assert server["status"] == "VERIFY_RESIZE" and server["flavor"]["original_name"] == "m1.tiny"
    assert "<memory unit=\"MiB\">512</memory>" in env.driver.xml("egunit-" + sid)
    tiny = (1, 512, 1)
    # until confirmed or reverted the node holds the larger of both flavors (a revert must fit)
    assert _claim(sid) == tuple(max(a, b) for a, b in zip(nano, tiny))
    assert act(env, sid, {"revertResize": None}).status_code == 202
    server = env.api.get(f"/v2.1/servers/{sid}").json["server"]
    assert server["status"] == "ACTIVE" and server["flavor"]["original_name"] == "m1.nano"
    assert _claim(sid) == nano
    assert act(env, sid, {"resize": {"flavorRef": "1"}}).status_code == 202
    assert act(env, sid, {"confirmResize": None}).status_code == 202
    assert env.api.get(f"/v2.1/servers/{sid}").json["server"]["flavor"]["original_name"] == "m1.tiny"
    assert _claim(sid) == tiny
    resp = act(env, sid, {"resize": {"flavorRef": "1"}})
    assert resp.status_code == 400 and "must change flavor" in resp.json["badRequest"]["message"]


def test_create_image_uploads_a_snapshot(env):
    sid = env.boot()
    resp = act(env, sid, {"createImage": {"name": "snap"}})
    assert resp.status_code == 202
    image_id = resp.json["image_id"]
    assert resp.headers["Location"].endswith(f"/v2/images/{image_id}")
    assert image_id in env.image.uploaded
    assert env.image.images[image_id]["instance_uuid"] == sid
    assert status(env, sid) == "ACTIVE"


def test_volume_attach_and_detach(env, tmp_path):
    sid = env.boot()
    vol = env.volume.add_volume("p-test", path=str(tmp_path / "vol.raw"))
    resp = env.api.post(f"/v2.1/servers/{sid}/os-volume_attachments",
                        json={"volumeAttachment": {"volumeId": vol["id"]}})
    assert resp.status_code == 200, resp.json
    assert resp.json["volumeAttachment"]["device"] == "/dev/vdb"
    assert vol["status"] == "in-use"
    assert 'dev="vdb"' in env.driver.xml("egunit-" + sid)
    listed = env.api.get(f"/v2.1/servers/{sid}/os-volume_attachments").json["volumeAttachments"]
    assert [a["volumeId"] for a in listed] == [vol["id"]]
    server = env.api.get(f"/v2.1/servers/{sid}").json["server"]
    assert server["os-extended-volumes:volumes_attached"][0]["id"] == vol["id"]
    again = env.api.post(f"/v2.1/servers/{sid}/os-volume_attachments",
                         json={"volumeAttachment": {"volumeId": vol["id"]}})
    assert again.status_code == 400
    assert env.api.delete(f"/v2.1/servers/{sid}/os-volume_attachments/{vol['id']}").status_code == 202
    assert vol["status"] == "available" and 'dev="vdb"' not in env.driver.xml("egunit-" + sid)


def test_attach_unknown_volume_is_404_and_changes_nothing(env):
    sid = env.boot()
    resp = env.api.post(f"/v2.1/servers/{sid}/os-volume_attachments",
                        json={"volumeAttachment": {"volumeId": "nope"}})
    assert resp.status_code == 404 and "nope" in resp.json["itemNotFound"]["message"]
    assert env.api.get(f"/v2.1/servers/{sid}/os-volume_attachments").json["volumeAttachments"] == []


def test_interface_attach_and_detach(env):
    sid = env.boot()
    resp = env.api.post(f"/v2.1/servers/{sid}/os-interface",
                        json={"interfaceAttachment": {"net_id": env.net["id"]}})
    assert resp.status_code == 200, resp.json
    port_id = resp.json["interfaceAttachment"]["port_id"]
    assert len(env.api.get(f"/v2.1/servers/{sid}/os-interface").json["interfaceAttachments"]) == 2
    assert env.api.delete(f"/v2.1/servers/{sid}/os-interface/{port_id}").status_code == 202
    assert port_id not in env.network.ports
    resp = env.api.post(f"/v2.1/servers/{sid}/os-interface", json={"interfaceAttachment": {"net_id": "nope"}})
    assert resp.status_code == 400 and len(env.network.ports) == 1


def test_boot_from_volume(env, tmp_path):
    vol = env.volume.add_volume("p-test", path=str(tmp_path / "root.raw"))
    body = env.server_body(imageRef="", block_device_mapping_v2=[{
        "uuid": vol["id"], "source_type": "volume", "destination_type": "volume", "boot_index": 0,
        "delete_on_termination": True}])
    resp = env.api.post("/v2.1/servers", json=body)
    assert resp.status_code == 202, resp.json
    sid = resp.json["server"]["id"]
    server = env.api.get(f"/v2.1/servers/{sid}").json["server"]
    assert server["status"] == "ACTIVE" and server["image"] == ""
    assert vol["status"] == "in-use" and str(tmp_path / "root.raw") in env.driver.xml("egunit-" + sid)
    env.api.delete(f"/v2.1/servers/{sid}")
    assert vol["id"] not in env.volume.volumes   # delete_on_termination


def test_reconcile_repairs_ghosts_stuck_builds_and_deletes(env):
    sid = env.boot()
    stuck = env.boot(name="stuck")
    with database.connection_context():
        Instance.update(vm_state="building", task_state="spawning").where(Instance.id == stuck).execute()
    env.driver.domains["egunit-ghost"] = {"xml": "<domain/>", "state": base.RUNNING, "log": "", "saved": False}
    env.driver.domains["other-prefix"] = {"xml": "<domain/>", "state": base.RUNNING, "log": "", "saved": False}
    report = env.manager.reconcile()
    assert report["ghost_domains"] == ["egunit-ghost"] and report["failed_builds"] == [stuck]
    assert "other-prefix" in env.driver.domains           # not ours: untouched
    server = env.api.get(f"/v2.1/servers/{stuck}").json["server"]
    assert server["status"] == "ERROR" and "restarted during the build" in server["fault"]["message"]
    assert "egunit-" + stuck not in env.driver.domains
    assert [p["device_id"] for p in env.network.ports.values()] == [sid]


def test_power_sync_records_a_guest_that_powered_itself_off(env):
    sid = env.boot()
    env.driver.domains["egunit-" + sid]["state"] = base.SHUTDOWN
    assert env.manager.sync_power_states() == 1
    assert status(env, sid) == "SHUTOFF"


def test_reconcile_releases_a_port_created_but_never_recorded(env):
    stuck = env.boot(name="stuck", networks="none")
    leaked = env.network.create_port({"network_id": env.net["id"], "device_id": stuck,
                                      "device_owner": "compute:nova"})
    users = env.network.create_port({"network_id": env.net["id"], "device_id": stuck, "device_owner": "other"})
    with database.connection_context():
        Instance.update(vm_state="building", task_state="networking").where(Instance.id == stuck).execute()
    env.manager.reconcile()
    assert leaked["id"] not in env.network.ports and users["id"] in env.network.ports
    assert env.api.get(f"/v2.1/servers/{stuck}").json["server"]["status"] == "ERROR"
