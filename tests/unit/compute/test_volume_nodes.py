"""Volumes on a site (issue 14): a volume is a file on one node's disk, so its server is placed there, and
attaching it to a server on another node is refused with both nodes named; a hostile host field is not trusted."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from moves_support import claims, make_site, row, server

from services.compute import models, volume_nodes
from services.compute.models import Instance, VolumeAttachment
from services.compute.scheduler import filters, request
from services.compute.scheduler.claims import NoValidHost
from services.compute.scheduler.state import HostState


@pytest.fixture
def site(env):
    return make_site(env)


def _bfv_body(site, *volume_ids, **kw):
    body = site.server_body(**kw)
    del body["server"]["imageRef"]
    body["server"]["block_device_mapping_v2"] = [
        {"uuid": vid, "source_type": "volume", "destination_type": "volume", "boot_index": 0 if i == 0 else 1}
        for i, vid in enumerate(volume_ids)]
    return body


def _attach(api, sid, volume_id):
    return api.post(f"/v2.1/servers/{sid}/os-volume_attachments", json={"volumeAttachment": {"volumeId": volume_id}})


def _attachment_rows(sid) -> list:
    with models.database.connection_context():
        return [(a.volume_id, a.attachment_id) for a in VolumeAttachment.select().where(VolumeAttachment.instance == sid)]


# -- the host field ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, 42, ["node-b"], "", "@file#file", "#file", "../../etc@file#file",
                                   "node b@file#file", "node:1@file#file", "<script>@file#file", "x" * 100,
                                   "-node@file#file", "node-b\n@file#file", "é@file#file", "node-z@file#file"])
def test_a_missing_malformed_or_unknown_host_is_this_boxs_own_volume(site, value):
    node = SimpleNamespace(host="founder-host", settings=_settings("boss"))
    with models.database.connection_context():
        assert volume_nodes.to_host(node, value) == "founder-host"
        assert volume_nodes.of_volume(node, {"os-vol-host-attr:host": value}) == "founder-host"
        assert volume_nodes.of_connection(node, {"data": {"node": value}}) == "founder-host"


def test_cinder_host_forms_and_the_founders_cluster_name(site):
    node = SimpleNamespace(host="founder-host", settings=_settings("boss"))
    with models.database.connection_context():
        assert volume_nodes.to_host(node, "node-b@file#file") == "node-b"
        assert volume_nodes.to_host(node, "node-b@lvm") == "node-b"
        assert volume_nodes.to_host(node, "node-b") == "node-b"
        # the founder's name in the site and its compute host are one node
        assert volume_nodes.to_host(node, "boss@file#file") == "founder-host"
        assert volume_nodes.of_connection(node, None) == volume_nodes.of_connection(node, {"data": "x"}) \
            == "founder-host"


def _settings(node_name):
    return SimpleNamespace(section=lambda name: {"node_name": node_name} if name == "cluster" else {})


def test_the_filter_keeps_the_volumes_node_and_says_which_it_is():
    hosts = [HostState(SimpleNamespace(host=h, state="up", disabled=False)) for h in ("n1", "n2", "n3")]
    spec = request.RequestSpec(instance_id="i", vcpus=1, memory_mb=1, disk_gb=0, volume_hosts={"v1": "n2"})
    left, results = filters.run([filters.VolumeLocalityFilter()], hosts, spec)
    assert [h.host for h in left] == ["n2"]
    assert results == ["VolumeLocalityFilter (the server's volumes live on node n2; their storage cannot export them "
                       "to other nodes): (start: 3, end: 1)"]
    two = request.RequestSpec(instance_id="i", vcpus=1, memory_mb=1, disk_gb=0,
                              volume_hosts={"v1": "n2", "v2": "n1"})
    left, results = filters.run([filters.VolumeLocalityFilter()], hosts, two)
    assert left == []
    text = str(NoValidHost(results))
    assert "live on nodes n1 and n2, one node cannot use both" in text and text.startswith("No valid host")
    # no volume, or none whose node is known: no restriction
    free = request.RequestSpec(instance_id="i", vcpus=1, memory_mb=1, disk_gb=0)
    assert filters.run([filters.VolumeLocalityFilter()], hosts, free)[0] == hosts


# -- placement ---------------------------------------------------------------------------------------------------
def test_a_boot_from_volume_server_is_placed_on_its_volumes_node(site):
    for node in ("node-b", "node-c", "node-b"):
        vol = site.volume.add_volume(name="boot", node=node)
        sid = site.api.post("/v2.1/servers", json=_bfv_body(site, vol["id"])).json["server"]["id"]
        assert server(site, sid)["status"] == "ACTIVE" and row(sid).host == node and claims()[sid] == node
        assert vol["path"] in site.drivers[node].xml(row(sid).domain_name)


def test_an_image_server_with_an_existing_volume_goes_to_that_volumes_node(site):
    vol = site.volume.add_volume(name="data", node="node-c")
    body = site.server_body()
    body["server"]["block_device_mapping_v2"] = [
        {"uuid": site.image_meta["id"], "source_type": "image", "destination_type": "local", "boot_index": 0},
        {"uuid": vol["id"], "source_type": "volume", "destination_type": "volume", "boot_index": -1}]
    sid = site.api.post("/v2.1/servers", json=body).json["server"]["id"]
    assert server(site, sid)["status"] == "ACTIVE", server(site, sid).get("fault")
    assert row(sid).host == "node-c"


def test_volumes_on_two_nodes_are_no_valid_host_naming_both(site):
    a, b = site.volume.add_volume(name="a", node="node-a"), site.volume.add_volume(name="b", node="node-b")
    sid = site.api.post("/v2.1/servers", json=_bfv_body(site, a["id"], b["id"])).json["server"]["id"]
    shown = server(site, sid)
    assert shown["status"] == "ERROR" and shown["fault"]["message"].startswith("No valid host was found.")
    assert "live on nodes node-a and node-b" in shown["fault"]["message"]
    assert a["status"] == b["status"] == "available" and not site.volume.attachments
    assert sid not in claims()


def test_a_forced_host_elsewhere_is_refused_with_both_nodes_and_nothing_made(site):
    vol = site.volume.add_volume(name="boot", node="node-b")
    before = site.count()
    resp = site.admin.post("/v2.1/servers", json=_bfv_body(site, vol["id"], availability_zone="nova:node-a"))
    assert resp.status_code == 409, resp.json
    message = resp.json["conflictingRequest"]["message"]
    assert message == (f"Volume {vol['id']} lives on node node-b and server vm1 runs on node node-a: node node-b "
                       "cannot export volumes to other nodes (its storage has no iSCSI target); migrate the server "
                       "to node-b or use a volume on node-a.")
    assert site.count() == before and vol["status"] == "available" and not site.volume.attachments
    # forcing the volume's own node is fine
    ok = site.admin.post("/v2.1/servers", json=_bfv_body(site, vol["id"], availability_zone="nova:node-b"))
    assert ok.status_code == 202 and row(ok.json["server"]["id"]).host == "node-b"


def test_a_volume_on_a_node_compute_does_not_know_is_the_api_boxs(site):
    """An unknown name is the storage box (this one) under another spelling: here its node takes no servers."""
    vol = site.volume.add_volume(name="boot", node="fake-host.example")
    sid = site.api.post("/v2.1/servers", json=_bfv_body(site, vol["id"])).json["server"]["id"]
    shown = server(site, sid)
    assert shown["status"] == "ERROR" and "live on node fake-host;" in shown["fault"]["message"]
    assert vol["status"] == "available" and not site.volume.attachments


# -- attaching ---------------------------------------------------------------------------------------------------
def test_attaching_a_volume_of_another_node_is_409_naming_both_and_changes_nothing(site):
    sid = site.boot()
    host = row(sid).host
    other = next(n for n in ("node-a", "node-b", "node-c") if n != host)
    vol = site.volume.add_volume(name="far", node=other)
    # the member's own view of the volume has no host: compute asks with its service credentials
    assert "os-vol-host-attr:host" not in site.volume.get_volume("p-test", vol["id"], site.member_token)
    resp = _attach(site.api, sid, vol["id"])
    assert resp.status_code == 409, resp.json
    assert resp.json["conflictingRequest"]["message"] == volume_nodes.message(vol["id"], other, sid, host)
    assert f"node {other}" in resp.json["conflictingRequest"]["message"]
    assert vol["status"] == "available" and not site.volume.attachments and _attachment_rows(sid) == []
    assert f'{vol["path"]}' not in site.drivers[host].xml(row(sid).domain_name)
    near = site.volume.add_volume(name="near", node=host)
    ok = _attach(site.api, sid, near["id"])
    assert ok.status_code == 200 and near["status"] == "in-use"
    with models.database.connection_context():
        att = VolumeAttachment.get(VolumeAttachment.volume_id == near["id"])
        assert volume_nodes.recorded(att) == host and att.connection_info["data"]["node"] == host


def test_another_projects_volume_is_404_and_its_node_is_not_told(site):
    sid = site.boot()
    theirs = site.volume.add_volume(project_id="p-other", name="theirs", node="node-c")
    resp = _attach(site.api, sid, theirs["id"])
    text = resp.get_data(as_text=True)
    assert resp.status_code == 404 and "node-c" not in text and theirs["status"] == "available"


def test_the_last_guard_refuses_what_gets_past_the_checks(site, monkeypatch):
    sid = site.boot()
    host = row(sid).host
    other = next(n for n in ("node-a", "node-b", "node-c") if n != host)
    vol = site.volume.add_volume(name="moved", node=other)
    # storage said the server's node at the check and the other one when connecting (it moved in between)
    monkeypatch.setattr(volume_nodes, "lookup", lambda node, project, volume_id: host)
    resp = _attach(site.api, sid, vol["id"])
    assert resp.status_code == 409 and resp.json["conflictingRequest"]["message"] == \
        volume_nodes.message(vol["id"], other, sid, host)
    assert vol["status"] == "available" and not site.volume.attachments and _attachment_rows(sid) == []


def test_a_hostile_host_field_is_this_boxs_volume_on_a_single_box(env):
    for value in ("../../etc/passwd@file#file", "<b>x</b>", "node:9@file", 7):
        vol = env.volume.add_volume(name="odd")
        vol["os-vol-host-attr:host"] = value
        sid = env.api.post("/v2.1/servers", json=_bfv_body(env, vol["id"])).json["server"]["id"]
        shown = env.api.get(f"/v2.1/servers/{sid}").json["server"]
        assert shown["status"] == "ACTIVE", shown.get("fault")
        with models.database.connection_context():
            assert Instance.get_by_id(sid).host == env.manager.node.host
        extra = env.volume.add_volume(name="extra")
        extra["os-vol-host-attr:host"] = value
        assert _attach(env.api, sid, extra["id"]).status_code == 200
