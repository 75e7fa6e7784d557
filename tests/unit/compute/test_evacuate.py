"""Evacuation: a down node's server is rebuilt on another node with the same ports and addresses, its claim moved."""
from __future__ import annotations

import pytest
from moves_support import (
    Unreachable,
    boot_on_volume,
    claims,
    force_down,
    make_site,
    row,
    server,
)

from services.compute import models
from services.compute.models import Instance, InstanceAction, Migration
from services.compute.states import REBUILD_TASKS, status_of


@pytest.fixture
def site(env):
    return make_site(env)


def _evacuate(site, sid, body=None, version=None, api=None):
    return (api or site.admin).post(f"/v2.1/servers/{sid}/action", json={"evacuate": body or {}}, version=version)


def test_evacuation_is_refused_while_the_node_is_up(site):
    sid = site.boot()
    host = row(sid).host
    resp = _evacuate(site, sid)
    # Nova's answer (ComputeServiceInUse is a 400 in nova/api/openstack/compute/evacuate.py)
    assert resp.status_code == 400 and resp.json["badRequest"]["message"] == \
        f"Compute service of {host} is still in use."
    assert row(sid).host == host and row(sid).task_state is None


def test_only_admins_evacuate(site):
    sid = site.boot()
    force_down(site, row(sid).host)
    resp = _evacuate(site, sid, api=site.api)
    assert resp.status_code == 403 and "os_compute_api:os-evacuate" in resp.json["forbidden"]["message"]
    assert _evacuate(site, sid, api=site.other).status_code == 404


def test_evacuation_keeps_ports_and_addresses_and_moves_the_claim(site):
    sid = site.boot()
    before = row(sid)
    source = before.host
    ports = [(p["port_id"], p["mac"], tuple(p["ips"])) for p in before.ports]
    assert ports and site.network.ports[ports[0][0]]["binding:host_id"] == source
    force_down(site, source)
    down = Unreachable()
    site.manager.node.register_driver(source, down)   # the down node is never called
    resp = _evacuate(site, sid, version="2.14")
    assert resp.status_code == 200 and resp.get_data() == b""
    after = row(sid)
    assert after.host != source and after.host in site.drivers and down.calls == []
    assert server(site, sid)["status"] == "ACTIVE" and server(site, sid)["OS-EXT-SRV-ATTR:host"] == after.host
    assert [(p["port_id"], p["mac"], tuple(p["ips"])) for p in after.ports] == ports
    assert site.network.ports[ports[0][0]]["binding:host_id"] == after.host
    assert after.domain_name in site.drivers[after.host].list_domains()
    assert claims() == {sid: after.host}                  # the source's claim is gone, one claim held
    with models.database.connection_context():
        mig = Migration.get(Migration.instance_id == sid)
        assert (mig.migration_type, mig.status, mig.source_compute, mig.dest_compute) == \
            ("evacuation", "done", source, after.host)
        assert [a.action for a in InstanceAction.select().where(InstanceAction.instance_id == sid)
                .order_by(InstanceAction.start_time)] == ["create", "evacuate"]


def test_evacuation_to_a_named_host_and_its_checks(site):
    sid = site.boot()
    source = row(sid).host
    force_down(site, source)
    target = next(h for h in site.drivers if h != source)
    assert _evacuate(site, sid, {"host": "nowhere"}).status_code == 404
    same = _evacuate(site, sid, {"host": source})
    assert same.status_code == 400 and "same one" in same.json["badRequest"]["message"]
    # before 2.14 onSharedStorage is required, and the new password comes back
    old = _evacuate(site, sid, {"host": target}, version="2.1")
    assert old.status_code == 400 and "onSharedStorage" in old.json["badRequest"]["message"]
    forced = _evacuate(site, sid, {"force": True}, version="2.29")
    assert forced.status_code == 400 and "non-provided destination" in forced.json["badRequest"]["message"]
    resp = _evacuate(site, sid, {"host": target, "onSharedStorage": False, "adminPass": "s3cret"}, version="2.1")
    assert resp.status_code == 200 and resp.json == {"adminPass": "s3cret"}
    assert row(sid).host == target


@pytest.mark.parametrize("body, version, field", [
    ({"host": 5}, "2.79", "host"),
    ({"host": "a b"}, "2.79", "host"),
    ({"onSharedStorage": True}, "2.14", "onSharedStorage"),
    ({"force": True, "host": "node-b"}, "2.68", "force"),
    ({"force": "maybe", "host": "node-b"}, "2.29", "force"),
    ({"adminPass": ["x"]}, "2.79", "adminPass"),
])
def test_bad_evacuate_bodies_name_the_field(site, body, version, field):
    sid = site.boot()
    force_down(site, row(sid).host)
    resp = _evacuate(site, sid, body, version=version)
    assert resp.status_code == 400 and field in resp.json["badRequest"]["message"], resp.json
    bad = site.admin.post(f"/v2.1/servers/{sid}/action", json={"evacuate": "node-b"})
    assert bad.status_code == 400 and "evacuate" in bad.json["badRequest"]["message"]


def test_evacuation_honours_anti_affinity(site):
    group = site.api.post("/v2.1/os-server-groups", json={"server_group": {
        "name": "g", "policy": "anti-affinity"}}).json["server_group"]["id"]
    body = site.server_body(name="m")
    body["os:scheduler_hints"] = {"group": group}
    first, second = (site.api.post("/v2.1/servers", json=body).json["server"]["id"] for _ in range(2))
    a, b = row(first).host, row(second).host
    assert a != b
    c = (set(site.drivers) - {a, b}).pop()
    force_down(site, a)
    assert _evacuate(site, first).status_code == 200
    assert row(first).host == c                       # never onto the other member's node
    force_down(site, a, down=False)
    force_down(site, c)
    assert _evacuate(site, first).status_code == 200
    assert row(first).host == a                       # back to the empty node, not next to its peer on b
    # no node left that keeps the group apart: refused, and nothing moves
    force_down(site, a)
    resp = _evacuate(site, first)
    assert resp.status_code == 400 and "No valid host" in resp.json["badRequest"]["message"]
    assert "ServerGroupAntiAffinityFilter" in resp.json["badRequest"]["message"]
    assert row(first).host == a and claims()[first] == a and row(first).task_state is None


def test_a_volume_backed_server_is_not_evacuated_away_from_its_volume(site):
    """Issue 14: a volume is a file on one node's disk (no iSCSI target here): the server boots there, and an
    evacuation elsewhere is refused, naming the node, with nothing changed."""
    sid, old_attachment = boot_on_volume(site, "node-b")
    force_down(site, "node-b")
    for body in ({}, {"host": "node-a"}):
        resp = _evacuate(site, sid, body)
        assert resp.status_code == 400, resp.json
        assert "VolumeLocalityFilter (the server's volumes live on node node-b" in resp.json["badRequest"]["message"]
    forced = _evacuate(site, sid, {"host": "node-a", "force": True}, version="2.29")
    assert forced.status_code == 400 and "live on node node-b" in forced.json["badRequest"]["message"]
    after = row(sid)
    assert after.host == "node-b" and after.task_state is None and claims() == {sid: "node-b"}
    with models.database.connection_context():
        assert row(sid).attachments[0].attachment_id == old_attachment
        assert not Migration.select().where(Migration.instance_id == sid).exists()
    assert old_attachment in site.volume.attachments


@pytest.mark.parametrize("vm_state", ["active", "stopped", "error"])
def test_a_server_being_rebuilt_elsewhere_shows_rebuild(vm_state):
    for task in REBUILD_TASKS:
        assert status_of(Instance(vm_state=vm_state, task_state=task)) == "REBUILD"
