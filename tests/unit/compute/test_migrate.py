"""Cold migration: the guest stops, its root disk is copied to another node, VERIFY_RESIZE; confirm frees the
source, revert goes back; the source's claim is held until then."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from moves_support import boot_on_volume, claims, force_down, make_site, row, server

from appliance.cluster import drain
from services.compute import models
from services.compute.drivers import base
from services.compute.models import InstanceAction, Migration


@pytest.fixture
def site(env):
    return make_site(env)


def _act(site, sid, body, version=None, api=None):
    return (api or site.admin).post(f"/v2.1/servers/{sid}/action", json=body, version=version)


def _migrate(site, sid, host=None, version=None):
    resp = _act(site, sid, {"migrate": {"host": host} if host else None}, version=version)
    assert resp.status_code == 202, resp.json
    return row(sid)


def _disk(driver, sid) -> Path:
    return driver.files.root / sid / "disk"


def test_migrate_then_confirm_frees_the_source(site):
    sid = site.boot()
    source = row(sid)
    src = site.drivers[source.host]
    # what the guest wrote to its disk before the move (its overlay's data) must arrive on the target
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 64k", str(_disk(src, sid))], check=True,
                   capture_output=True)
    moved = _migrate(site, sid)
    target = site.drivers[moved.host]
    assert moved.host != source.host and server(site, sid)["status"] == "VERIFY_RESIZE"
    assert target.power_state(moved.domain_name) == base.RUNNING
    assert source.domain_name not in src.list_domains()               # stopped and undefined; its disk stays
    assert _disk(target, sid).is_file() and _disk(src, sid).is_file()
    assert site.network.ports[moved.ports[0]["port_id"]]["binding:host_id"] == moved.host
    assert [p["port_id"] for p in moved.ports] == [p["port_id"] for p in source.ports]
    with models.database.connection_context():
        mig = Migration.get(Migration.instance_id == sid)
    assert claims() == {sid: moved.host, mig.id: source.host}             # both held: no overcommit meanwhile
    resp = _act(site, sid, {"confirmResize": None})
    assert resp.status_code == 202
    assert server(site, sid)["status"] == "ACTIVE" and claims() == {sid: moved.host}
    assert source.domain_name not in src.list_domains() and not _disk(src, sid).exists()
    with models.database.connection_context():
        assert Migration.get_by_id(mig.id).status == "confirmed"
        assert [a.action for a in InstanceAction.select().where(InstanceAction.instance_id == sid)
                .order_by(InstanceAction.start_time)] == ["create", "migrate", "confirmResize"]
    check = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "read -P 0x5a 1M 64k", str(_disk(target, sid))],
                           check=False, capture_output=True, text=True)
    assert check.returncode == 0 and "Pattern verification failed" not in check.stdout, check.stdout
    assert "backing-filename" not in subprocess.run(["qemu-img", "info", "-U", str(_disk(target, sid))],
                                                    check=False, capture_output=True, text=True).stdout


def test_migrate_then_revert_goes_back(site):
    sid = site.boot()
    source = row(sid)
    moved = _migrate(site, sid)
    assert _act(site, sid, {"revertResize": None}).status_code == 202
    back = row(sid)
    assert back.host == source.host and server(site, sid)["status"] == "ACTIVE"
    assert site.drivers[source.host].power_state(back.domain_name) == base.RUNNING
    assert moved.domain_name not in site.drivers[moved.host].list_domains()
    assert not _disk(site.drivers[moved.host], sid).exists()
    assert claims() == {sid: source.host}
    assert site.network.ports[back.ports[0]["port_id"]]["binding:host_id"] == source.host


def test_a_stopped_server_migrates_stopped(site):
    sid = site.boot()
    assert _act(site, sid, {"os-stop": None}).status_code == 202
    moved = _migrate(site, sid)
    assert site.drivers[moved.host].power_state(moved.domain_name) == base.SHUTDOWN
    assert _act(site, sid, {"confirmResize": None}).status_code == 202
    assert server(site, sid)["status"] == "SHUTOFF"


def test_migrate_to_a_named_host(site):
    sid = site.boot()
    source = row(sid).host
    target = next(h for h in site.drivers if h != source)
    early = _act(site, sid, {"migrate": {"host": target}}, version="2.55")
    assert early.status_code == 400 and "migrate" in early.json["badRequest"]["message"]
    unknown = _act(site, sid, {"migrate": {"host": "nowhere"}})
    assert unknown.status_code == 400 and "nowhere" in unknown.json["badRequest"]["message"]
    same = _act(site, sid, {"migrate": {"host": source}})
    assert same.status_code == 400 and source in same.json["badRequest"]["message"]
    assert _migrate(site, sid, host=target).host == target


def test_migrate_with_no_other_node_is_no_valid_host(site):
    sid = site.boot()
    with models.database.connection_context():
        models.ComputeNode.update(disabled=True).where(models.ComputeNode.host != row(sid).host).execute()
    resp = _act(site, sid, {"migrate": None})
    assert resp.status_code == 400 and "No valid host was found" in resp.json["badRequest"]["message"]
    assert server(site, sid)["status"] == "ACTIVE" and claims() == {sid: row(sid).host}
    with models.database.connection_context():
        assert not Migration.select().where(Migration.instance_id == sid).exists()


def test_only_admins_migrate_and_bad_bodies(site):
    sid = site.boot()
    resp = _act(site, sid, {"migrate": None}, api=site.api)
    assert resp.status_code == 403 and "os-migrate-server:migrate" in resp.json["forbidden"]["message"]
    for body, field in [({"migrate": {"host": 7}}, "host"), ({"migrate": {"hots": "x"}}, "hots"),
                        ({"migrate": "node-b"}, "migrate")]:
        bad = _act(site, sid, body)
        assert bad.status_code == 400 and field in bad.json["badRequest"]["message"], bad.json
    _migrate(site, sid)
    again = _act(site, sid, {"migrate": None})
    assert again.status_code == 409                    # VERIFY_RESIZE: confirm or revert first


def test_a_failed_copy_leaves_the_server_on_its_source(site):
    sid = site.boot()
    source = row(sid)
    for name, driver in site.drivers.items():
        if name != source.host:
            driver.fail_spawn = "the target's hypervisor refused"
    _act(site, sid, {"migrate": None})
    back = row(sid)
    assert back.host == source.host and server(site, sid)["status"] == "ACTIVE"
    assert "refused" in back.fault["message"]
    assert site.drivers[source.host].power_state(back.domain_name) == base.RUNNING
    assert claims() == {sid: source.host}


def test_deleting_an_unconfirmed_migration_frees_both_nodes(site):
    sid = site.boot()
    source = row(sid)
    moved = _migrate(site, sid)
    assert site.admin.delete(f"/v2.1/servers/{sid}").status_code == 204
    assert claims() == {}
    assert source.domain_name not in site.drivers[source.host].list_domains()
    assert moved.domain_name not in site.drivers[moved.host].list_domains()
    assert not _disk(site.drivers[source.host], sid).exists()


# -- egret cluster drain NODE: the same moves, through the compute API as the admin's client makes them ----------
class FlaskApi:
    """drain's compute client over the unit app (the real one speaks HTTPS to the site's API with clouds.yaml)."""

    def __init__(self, site):
        self.site = site

    def call(self, method, path, body=None):
        resp = getattr(self.site.admin, method.lower())("/v2.1" + path, json=body, version=drain.MICROVERSION)
        return resp.status_code, resp.get_json(silent=True) or {}


def _on(site, host):
    with models.database.connection_context():
        models.ComputeNode.update(disabled=True).where(models.ComputeNode.host != host).execute()
    ids = [site.boot(name=f"d{i}") for i in range(3)]
    with models.database.connection_context():
        models.ComputeNode.update(disabled=False).where(
            models.ComputeNode.host.in_([h for h in site.drivers if h != host])).execute()
    assert {row(i).host for i in ids} == {host}
    return ids


def test_drain_moves_every_server_off_the_node(site):
    ids = _on(site, "node-a")
    lines = []
    report = drain.drain(FlaskApi(site), "node-a", progress=lines.append, poll=0)
    assert report["failed"] == [] and sorted(m["id"] for m in report["moved"]) == sorted(ids)
    assert {m["to"] for m in report["moved"]} <= {"node-b", "node-c"}
    assert len(lines) == 3 and all("moved to node-" in line for line in lines)
    assert site.drivers["node-a"].list_domains() == [] and all(row(i).host != "node-a" for i in ids)
    assert {server(site, i)["status"] for i in ids} == {"ACTIVE"}
    svc = site.admin.get("/v2.1/os-services?host=node-a").json["services"][0]
    assert svc["status"] == "disabled" and svc["disabled_reason"] == "draining"
    assert set(claims().values()) <= {"node-b", "node-c"}


def test_a_server_that_cannot_move_is_reported(site):
    ids = _on(site, "node-a")
    assert _act(site, ids[0], {"pause": None}).status_code == 202
    with models.database.connection_context():
        # room for one m1.nano (256 MB) on node-b, and node-c takes nothing
        models.ComputeNode.update(memory_mb=300).where(models.ComputeNode.host == "node-b").execute()
        models.ComputeNode.update(disabled=True).where(models.ComputeNode.host == "node-c").execute()
    report = drain.drain(FlaskApi(site), "node-a", progress=lambda line: None, poll=0)
    failed = {f["id"]: f["reason"] for f in report["failed"]}
    assert "vm_state paused" in failed[ids[0]]                     # Nova's state conflict, in its words
    assert [m["to"] for m in report["moved"]] == ["node-b"] and len(failed) == 2
    assert any("No valid host" in why for why in failed.values())
    with pytest.raises(drain.DrainError, match="no compute node"):
        drain.drain(FlaskApi(site), "nowhere", progress=lambda line: None)


def test_the_drain_command_parses_and_says_what_it_needs(tmp_path, capsys):
    from appliance.cli import build_parser
    args = build_parser().parse_args(["cluster", "drain", "node-a", "--json"])
    assert (args.action, args.name, args.json) == ("drain", "node-a", True)

    class Settings:
        state_dir = tmp_path
    assert args.handler(args, Settings()) == 1
    assert "no admin credentials" in capsys.readouterr().err


def test_a_volume_backed_server_is_not_migrated_away_from_its_volume(site):
    """Issue 14: a volume is a file on one node's disk (no iSCSI target here): the server boots there, and a
    migration elsewhere is refused, naming the node, with nothing changed."""
    sid, before = boot_on_volume(site, "node-c")
    for body in (None, {"host": "node-a"}):
        resp = _act(site, sid, {"migrate": body})
        assert resp.status_code == 400, resp.json
        assert "VolumeLocalityFilter (the server's volumes live on node node-c" in resp.json["badRequest"]["message"]
    assert server(site, sid)["status"] == "ACTIVE" and row(sid).task_state is None
    assert claims() == {sid: "node-c"}
    with models.database.connection_context():
        assert row(sid).attachments[0].attachment_id == before
        assert not Migration.select().where(Migration.instance_id == sid).exists()


def test_a_server_with_a_task_under_way_is_not_moved(site):
    sid = site.boot()
    with models.database.connection_context():
        models.Instance.update(task_state="rebooting").where(models.Instance.id == sid).execute()
    resp = _act(site, sid, {"migrate": None})
    assert resp.status_code == 409 and "task_state rebooting" in resp.json["conflictingRequest"]["message"]
    with models.database.connection_context():
        assert not Migration.select().where(Migration.instance_id == sid).exists()


def test_a_migration_a_restart_interrupted_goes_back_to_its_source(site):
    sid = site.boot()
    source = row(sid)
    moved = _migrate(site, sid)
    with models.database.connection_context():   # as a crash left it: copied and started, not yet finished
        Migration.update(status="migrating").where(Migration.instance_id == sid).execute()
        models.Instance.update(vm_state="active", task_state="resize_migrating").where(
            models.Instance.id == sid).execute()
    report = site.manager.reconcile()
    assert report["recovered_moves"] == [sid]
    back = row(sid)
    assert back.host == source.host and server(site, sid)["status"] == "ACTIVE"
    assert "restarted" in back.fault["message"]
    assert site.drivers[source.host].power_state(back.domain_name) == base.RUNNING
    assert moved.domain_name not in site.drivers[moved.host].list_domains()
    assert claims() == {sid: source.host}


def test_an_evacuation_a_restart_interrupted_runs_again(site):
    sid = site.boot()
    force_down(site, row(sid).host)
    assert _act(site, sid, {"evacuate": {}}).status_code == 200
    moved = row(sid)
    site.drivers[moved.host].destroy(moved.domain_name)   # the crash came before the spawn
    with models.database.connection_context():
        Migration.update(status="pre-migrating").where(Migration.instance_id == sid).execute()
        models.Instance.update(task_state="rebuilding").where(models.Instance.id == sid).execute()
    assert site.manager.reconcile()["recovered_moves"] == [sid]
    assert server(site, sid)["status"] == "ACTIVE" and row(sid).host == moved.host
    assert site.drivers[moved.host].power_state(moved.domain_name) == base.RUNNING


def test_instance_actions_list_what_was_done(site):
    sid = site.boot()
    assert _act(site, sid, {"os-stop": None}).status_code == 202
    _migrate(site, sid)
    assert _act(site, sid, {"revertResize": None}).status_code == 202
    acts = site.api.get(f"/v2.1/servers/{sid}/os-instance-actions").json["instanceActions"]
    assert [a["action"] for a in acts] == ["revertResize", "migrate", "stop", "create"]
    assert {a["instance_uuid"] for a in acts} == {sid} and acts[1]["user_id"] == "u-admin"
    assert all(a["request_id"].startswith("req-") and "updated_at" in a for a in acts)
    old = site.api.get(f"/v2.1/servers/{sid}/os-instance-actions", version="2.57").json["instanceActions"]
    assert "updated_at" not in old[0]
    one = site.api.get(f"/v2.1/servers/{sid}/os-instance-actions/{acts[1]['request_id']}").json["instanceAction"]
    assert one["action"] == "migrate" and one["events"] == []
    assert site.api.get(f"/v2.1/servers/{sid}/os-instance-actions/req-nope").status_code == 404
    assert site.other.get(f"/v2.1/servers/{sid}/os-instance-actions").status_code == 404
    other = site.boot(name="other")
    assert site.api.get(f"/v2.1/servers/{other}/os-instance-actions/{acts[0]['request_id']}").status_code == 404


def test_os_migrations_lists_the_moves(site):
    sid = site.boot()
    source = row(sid).host
    moved = _migrate(site, sid)
    assert _act(site, sid, {"confirmResize": None}).status_code == 202
    found = site.admin.get("/v2.1/os-migrations").json["migrations"]
    assert [(m["instance_uuid"], m["migration_type"], m["status"], m["source_compute"], m["dest_compute"])
            for m in found] == [(sid, "migration", "confirmed", source, moved.host)]
    assert found[0]["old_instance_type_id"] == found[0]["new_instance_type_id"] == "6"
    assert site.admin.get(f"/v2.1/os-migrations?host={moved.host}").json["migrations"][0]["uuid"] == found[0]["id"]
    assert site.admin.get("/v2.1/os-migrations?status=error").json["migrations"] == []
    old = site.admin.get("/v2.1/os-migrations", version="2.22").json["migrations"][0]
    assert "migration_type" not in old and "uuid" not in old
    assert site.api.get("/v2.1/os-migrations").status_code == 403
