"""Volumes across a site's nodes over iSCSI: a volume's node that exports it (its storage pool says iSCSI) lets a
server on any node use it as a network disk (QEMU's initiator, CHAP in a libvirt secret); one that cannot keeps
every refusal of test_volume_nodes.py. Three fake nodes; the fake storage exports to an initiator as the real one."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
from moves_support import claims, force_down, make_site, row, server

from services.compute import models, volume_iscsi, volume_nodes
from services.compute.actions import spec_from_xml
from services.compute.drivers.libvirt.xml import disk_element, to_string
from services.compute.drivers.specs import DiskSpec
from services.compute.external import ExternalError
from services.compute.fakes import ISCSI_TARGET_PREFIX
from services.compute.models import ComputeNode, Migration, VolumeAttachment
from services.compute.scheduler import nodes, request, weighers
from services.compute.scheduler.state import HostState

NODES = ("node-a", "node-b", "node-c")


@pytest.fixture
def site(env):
    return make_site(env)


def _bfv_body(site, volume_id, **kw):
    body = site.server_body(**kw)
    del body["server"]["imageRef"]
    body["server"]["block_device_mapping_v2"] = [{"uuid": volume_id, "source_type": "volume",
                                                  "destination_type": "volume", "boot_index": 0}]
    return body


def _bfv(site, volume_id, api=None, **kw) -> str:
    resp = (api or site.api).post("/v2.1/servers", json=_bfv_body(site, volume_id, **kw))
    assert resp.status_code == 202, resp.json
    return resp.json["server"]["id"]


def _attach(site, sid, volume_id):
    return site.api.post(f"/v2.1/servers/{sid}/os-volume_attachments",
                         json={"volumeAttachment": {"volumeId": volume_id}})


def _other(host) -> str:
    return next(n for n in NODES if n != host)


def _network_disks(site, sid) -> list[ET.Element]:
    inst = row(sid)
    tree = ET.fromstring(site.drivers[inst.host].xml(inst.domain_name))
    return [d for d in tree.findall("./devices/disk") if d.get("type") == "network"]


def _only_attachment(site, volume_id) -> dict:
    [att] = [a for a in site.volume.attachments.values() if a["volume_id"] == volume_id]
    return att


def _rows(sid) -> list[VolumeAttachment]:
    with models.database.connection_context():
        return list(VolumeAttachment.select().where(VolumeAttachment.instance == sid))


def _assert_over_iscsi(site, sid, vol, volume_host, api=None):
    """The server's node reaches the volume on `volume_host` over iSCSI with its own initiator name; the CHAP
    password is in that node's secret only: not in the XML, the row, or what the API shows."""
    inst = row(sid)
    att = _only_attachment(site, vol["id"])
    data = att["connection_info"]["data"]
    initiator = volume_iscsi.INITIATOR_PREFIX + inst.host
    assert att["connector"]["initiator"] == initiator and att["connector"]["host"] == inst.host
    [disk] = _network_disks(site, sid)
    source = disk.find("source")
    assert (source.get("protocol"), source.get("name")) == ("iscsi", f"{data['target_iqn']}/1")
    assert source.find("host").attrib == {"name": volume_host, "port": "3260"}
    assert source.find("initiator/iqn").get("name") == initiator
    usage = source.find("auth/secret").get("usage")
    assert usage == f"egret-{data['target_iqn']}" and source.find("auth").get("username") == data["auth_username"]
    driver = site.drivers[inst.host]
    assert driver.secrets[usage] == data["auth_password"]
    assert data["auth_password"] not in driver.xml(inst.domain_name)
    [record] = [a for a in _rows(sid) if a.volume_id == vol["id"]]
    assert data["auth_password"] not in str(record.connection_info)
    assert volume_nodes.recorded(record) == volume_host and volume_nodes.recorded_remote(record) is True
    shown = (api or site.api).get(f"/v2.1/servers/{sid}/os-volume_attachments").get_data(as_text=True)
    assert data["auth_password"] not in shown and vol["status"] == "in-use"
    return usage


def _server_and_far_volume(site, exported: bool = True):
    """A server, its node, another node and a volume there (which that node exports unless told otherwise)."""
    sid = site.boot()
    host = row(sid).host
    far = _other(host)
    vol = site.volume.add_volume(name="far", node=far)
    if exported:
        site.volume.export_from(far)
    return sid, host, far, vol


# -- attaching ---------------------------------------------------------------------------------------------------
def test_a_volume_another_node_exports_attaches_over_iscsi_and_detaches(site):
    sid, host, far, vol = _server_and_far_volume(site)
    resp = _attach(site, sid, vol["id"])
    assert resp.status_code == 200, resp.json
    usage = _assert_over_iscsi(site, sid, vol, far)
    detached = site.api.delete(f"/v2.1/servers/{sid}/os-volume_attachments/{vol['id']}")
    assert detached.status_code == 202
    assert _network_disks(site, sid) == [] and usage not in site.drivers[host].secrets
    assert not site.volume.attachments and vol["status"] == "available"


def test_a_local_volume_stays_a_file_even_when_its_node_exports(site):
    sid = site.boot()
    host = row(sid).host
    site.volume.export_from(*NODES)
    near = site.volume.add_volume(name="near", node=host)
    assert _attach(site, sid, near["id"]).status_code == 200
    assert _only_attachment(site, near["id"])["connector"]["initiator"] is None
    assert _network_disks(site, sid) == [] and near["path"] in site.drivers[host].xml(row(sid).domain_name)


def test_storage_refusing_the_export_is_409_naming_both_nodes_and_its_reason(site):
    sid, host, far, vol = _server_and_far_volume(site)
    site.volume.export_refusal = f"The iSCSI target on node {far} is not running."
    resp = _attach(site, sid, vol["id"])
    assert resp.status_code == 409, resp.json
    message = resp.json["conflictingRequest"]["message"]
    assert message == volume_nodes.message(vol["id"], far, sid, host, site.volume.export_refusal)
    assert message == (f"Volume {vol['id']} lives on node {far} and server {sid} runs on node {host}: node {far} "
                       f"cannot export volumes to other nodes (The iSCSI target on node {far} is not running); "
                       f"migrate the server to {far} or use a volume on {host}.")
    assert vol["status"] == "available" and not site.volume.attachments and _rows(sid) == []


def test_a_node_whose_pool_says_file_is_refused_before_storage_is_asked(site):
    sid, host, far, vol = _server_and_far_volume(site, exported=False)
    site.volume.export_from(*(n for n in NODES if n != far))   # every node but the volume's
    resp = _attach(site, sid, vol["id"])
    assert resp.status_code == 409
    assert resp.json["conflictingRequest"]["message"] == volume_nodes.message(vol["id"], far, sid, host)
    assert "its storage has no iSCSI target" in resp.json["conflictingRequest"]["message"]
    assert not [c for c in site.auth.calls if c[:2] == ("volume", "create_attachment")]


def test_storage_answering_a_file_for_a_remote_volume_is_refused(site, monkeypatch):
    sid, host, far, vol = _server_and_far_volume(site)
    create = site.volume.create_attachment
    # storage ignores the initiator and answers with the path on its own disk
    monkeypatch.setattr(site.volume, "create_attachment", lambda project, volume_id, server_id, connector, token=None:
                        create(project, volume_id, server_id, {**connector, "initiator": None}, token))
    resp = _attach(site, sid, vol["id"])
    assert resp.status_code == 409
    assert "storage answered with a file on its disk, not an iSCSI target" in \
        resp.json["conflictingRequest"]["message"]
    assert vol["status"] == "available" and not site.volume.attachments and _rows(sid) == []
    assert vol["path"] not in site.drivers[host].xml(row(sid).domain_name)


def _hostile(data: dict, key: str, value) -> None:
    if value is _MISSING:
        data.pop(key)
    else:
        data[key] = value


_MISSING = object()


@pytest.mark.parametrize("key,value", [
    ("target_portal", _MISSING), ("target_portal", 3260), ("target_portal", "node b:3260"),
    ("target_portal", "<x/>:3260"), ("target_portal", "node-b"), ("target_portal", "node-b:99999"),
    ("target_portal", "node-b:32a0"), ("target_portal", "node-b:3260\n"),
    ("target_iqn", _MISSING), ("target_iqn", "iqn.2026-12.dev.egret:a'/><disk type='file"),
    ("target_iqn", 'iqn.2026-12.dev.egret:a"&<>'), ("target_iqn", "iqn.2026-12.dev.egret:a/2"),
    ("target_iqn", "not-an-iqn"), ("target_iqn", ["iqn.2026-12.dev.egret:a"]),
    ("target_lun", _MISSING), ("target_lun", "1"), ("target_lun", True), ("target_lun", -1), ("target_lun", 1.0),
    ("target_lun", 10 ** 9),
    ("auth_method", _MISSING), ("auth_method", "None"), ("auth_username", "<u>"), ("auth_username", None),
    ("auth_password", _MISSING), ("auth_password", ""), ("auth_password", "a\nb"), ("auth_password", 42),
    ("format", "vmdk"), ("format", _MISSING), ("access_mode", "everything"),
])
def test_hostile_iscsi_connection_info_is_refused_plainly(site, monkeypatch, key, value):
    sid, host, far, vol = _server_and_far_volume(site)
    make = site.volume._iscsi

    def hostile(volume, att_id):
        info = make(volume, att_id)
        _hostile(info["data"], key, value)
        return info
    monkeypatch.setattr(site.volume, "_iscsi", hostile)
    resp = _attach(site, sid, vol["id"])
    assert resp.status_code == 500, resp.json
    text = resp.get_data(as_text=True)
    assert f"Volume {vol['id']} cannot be attached: storage's iSCSI connection info has " in text
    assert key in text and (not isinstance(value, str) or len(value) < 4 or value not in text)   # never echoed
    assert vol["status"] == "available" and not site.volume.attachments and _rows(sid) == []
    assert _network_disks(site, sid) == [] and site.drivers[host].secrets == {}


def test_connection_data_that_is_not_an_object_is_refused():
    with pytest.raises(volume_iscsi.BadConnection, match="has no data"):
        volume_iscsi.disk_spec("v-1", {"driver_volume_type": "iscsi", "data": "x"}, "vdb", "node-a")
    good = {"target_portal": "[fd00::1]:3260", "target_iqn": ISCSI_TARGET_PREFIX + "a", "target_lun": 0,
            "auth_method": "CHAP", "auth_username": "u", "auth_password": "p w", "format": "raw"}
    disk = volume_iscsi.disk_spec("v-1", {"data": good}, "vdb", "node-a")
    assert (disk.portal, disk.path, disk.initiator) == ("[fd00::1]:3260", ISCSI_TARGET_PREFIX + "a/0",
                                                         "iqn.2026-12.dev.egret:node-a")


def _node_with_pools(answer):
    def get_pools(project_id, token=None):
        if isinstance(answer, Exception):
            raise answer
        return answer
    settings = SimpleNamespace(section=lambda name: {"node_name": "boss"} if name == "cluster" else {})
    return SimpleNamespace(host="fake-host", settings=settings, volume=SimpleNamespace(get_pools=get_pools))


def _pool(name, protocol="iSCSI"):
    return {"name": name, "capabilities": {"storage_protocol": protocol}}


@pytest.mark.parametrize("pools", [
    None, "iSCSI", [None, 1, "node-b@file#file"], [{"name": "node-b@file#file", "capabilities": "iSCSI"}],
    [_pool("<b>@file#file")], [_pool(7)], [_pool("node-b@file#file", "iscsi ")], [_pool("node-b@file#file", "file")],
    ExternalError("Unknown API path", 404, "volume"), ExternalError("Volume service unavailable", 503, "volume"),
])
def test_pools_that_do_not_plainly_say_iscsi_export_nothing(site, pools):
    with models.database.connection_context():
        assert volume_nodes.exporting(_node_with_pools(pools), "p-test") == set()


def test_pools_name_nodes_as_compute_hosts(site):
    pools = [_pool("node-b@file#file"), _pool("boss@file#file"), _pool("node-c@file#file", "file")]
    with models.database.connection_context():
        assert volume_nodes.exporting(_node_with_pools(pools), "p-test") == {"node-b", "fake-host"}


# -- placement ---------------------------------------------------------------------------------------------------
def test_a_bfv_server_is_placed_next_to_its_exported_volume_by_default(site):
    site.volume.export_from(*NODES)
    for node in ("node-c", "node-b", "node-c"):
        vol = site.volume.add_volume(name="boot", node=node)
        sid = _bfv(site, vol["id"])
        assert server(site, sid)["status"] == "ACTIVE" and row(sid).host == node
        assert _network_disks(site, sid) == [] and vol["path"] in site.drivers[node].xml(row(sid).domain_name)
        [record] = _rows(sid)
        assert volume_nodes.recorded_remote(record) is True


def test_the_volume_weigher_outweighs_spread_and_has_a_multiplier():
    hosts = [HostState(SimpleNamespace(host=h, state="up", disabled=False, memory_mb=m, ram_allocation_ratio=1.0,
                                       vcpus=8, cpu_allocation_ratio=1.0, disk_gb=0, disk_allocation_ratio=1.0))
             for h, m in (("n1", 8192), ("n2", 1024), ("n3", 4096))]
    spec = request.RequestSpec(instance_id="i", vcpus=1, memory_mb=1, disk_gb=0, volume_homes={"v": "n2"})
    assert weighers.best(hosts, {}, spec).host == "n2"
    assert weighers.best(hosts, {"volume_locality_weight_multiplier": 0.5}, spec).host == "n1"
    assert weighers.best(hosts, {}, request.RequestSpec(instance_id="i", vcpus=1, memory_mb=1, disk_gb=0)).host == "n1"


def test_a_bfv_server_goes_elsewhere_when_its_volumes_node_is_disabled(site):
    site.volume.export_from("node-b")
    vol = site.volume.add_volume(name="boot", node="node-b")
    with models.database.connection_context():
        nodes.set_disabled(ComputeNode.get(ComputeNode.host == "node-b"), True, "maintenance")
    sid = _bfv(site, vol["id"])
    assert server(site, sid)["status"] == "ACTIVE", server(site, sid).get("fault")
    assert row(sid).host != "node-b"
    _assert_over_iscsi(site, sid, vol, "node-b")


def test_a_bfv_server_goes_elsewhere_when_its_volumes_node_is_full(site):
    big = site.boot(flavorRef="4")           # 8 GiB: all of a node (ties go to the first node by name)
    assert row(big).host == "node-a" and server(site, big)["status"] == "ACTIVE"
    site.volume.export_from("node-a")
    vol = site.volume.add_volume(name="boot", node="node-a")
    sid = _bfv(site, vol["id"])
    assert server(site, sid)["status"] == "ACTIVE", server(site, sid).get("fault")
    assert row(sid).host in ("node-b", "node-c")
    _assert_over_iscsi(site, sid, vol, "node-a")


def test_a_bfv_server_whose_volume_cannot_be_exported_still_waits_for_its_node(site):
    big = site.boot(flavorRef="4")
    assert row(big).host == "node-a"
    site.volume.export_from("node-b", "node-c")
    vol = site.volume.add_volume(name="boot", node="node-a")
    sid = _bfv(site, vol["id"])
    shown = server(site, sid)
    assert shown["status"] == "ERROR" and "VolumeLocalityFilter (the server's volumes live on node node-a" in \
        shown["fault"]["message"]


def test_a_forced_host_elsewhere_is_allowed_when_the_volumes_node_exports(site):
    site.volume.export_from("node-b")
    vol = site.volume.add_volume(project_id="p-admin", name="boot", node="node-b")
    resp = site.admin.post("/v2.1/servers", json=_bfv_body(site, vol["id"], availability_zone="nova:node-a"))
    assert resp.status_code == 202, resp.json
    sid = resp.json["server"]["id"]
    assert server(site, sid)["status"] == "ACTIVE", server(site, sid).get("fault")
    assert row(sid).host == "node-a"
    _assert_over_iscsi(site, sid, vol, "node-b", api=site.admin)


# -- moves -------------------------------------------------------------------------------------------------------
def test_a_volume_backed_server_is_evacuated_when_its_volume_can_be_exported(site):
    site.volume.export_from("node-b")
    vol = site.volume.add_volume(name="boot", node="node-b")
    sid = _bfv(site, vol["id"])
    assert row(sid).host == "node-b"
    old = _only_attachment(site, vol["id"])["id"]
    force_down(site, "node-b")
    resp = site.admin.post(f"/v2.1/servers/{sid}/action", json={"evacuate": {}})
    assert resp.status_code == 200, resp.json
    moved = row(sid)
    assert server(site, sid)["status"] == "ACTIVE", server(site, sid).get("fault")
    assert moved.host in ("node-a", "node-c") and claims() == {sid: moved.host}
    assert old not in site.volume.attachments
    _assert_over_iscsi(site, sid, vol, "node-b")


def test_a_volume_backed_server_migrates_once_its_volumes_node_exports_and_reverts_to_the_file(site):
    vol = site.volume.add_volume(name="boot", node="node-c")
    sid = _bfv(site, vol["id"])     # recorded while node-c could not export: bound to node-c
    assert row(sid).host == "node-c"
    refused = site.admin.post(f"/v2.1/servers/{sid}/action", json={"migrate": None})
    assert refused.status_code == 400 and "VolumeLocalityFilter" in refused.json["badRequest"]["message"]
    site.volume.export_from("node-c")   # storage gained its target since: the move asks again
    resp = site.admin.post(f"/v2.1/servers/{sid}/action", json={"migrate": None})
    assert resp.status_code == 202, resp.json
    assert server(site, sid)["status"] == "VERIFY_RESIZE", server(site, sid).get("fault")
    assert row(sid).host in ("node-a", "node-b")
    _assert_over_iscsi(site, sid, vol, "node-c")
    assert site.admin.post(f"/v2.1/servers/{sid}/action", json={"revertResize": None}).status_code == 202
    back = row(sid)
    assert back.host == "node-c" and server(site, sid)["status"] == "ACTIVE"
    assert _network_disks(site, sid) == [] and vol["path"] in site.drivers["node-c"].xml(back.domain_name)
    assert _only_attachment(site, vol["id"])["connector"]["initiator"] is None
    with models.database.connection_context():
        assert Migration.get(Migration.instance_id == sid).status == "reverted"


def test_resize_keeps_the_network_disk_and_its_secret_and_delete_lets_them_go(site):
    sid, host, far, vol = _server_and_far_volume(site)
    assert _attach(site, sid, vol["id"]).status_code == 200
    usage = _assert_over_iscsi(site, sid, vol, far)
    act = f"/v2.1/servers/{sid}/action"
    assert site.api.post(act, json={"resize": {"flavorRef": "1"}}).status_code == 202
    assert server(site, sid)["status"] == "VERIFY_RESIZE", server(site, sid).get("fault")
    assert site.api.post(act, json={"confirmResize": None}).status_code == 202
    assert _assert_over_iscsi(site, sid, vol, far) == usage
    assert site.api.delete(f"/v2.1/servers/{sid}").status_code == 204
    assert site.drivers[host].secrets == {} and not site.volume.attachments


def test_a_network_disk_reads_back_from_its_xml_without_its_password():
    disk = DiskSpec(path=ISCSI_TARGET_PREFIX + "x/3", target="vdc", format="raw", source_type="network",
                    protocol="iscsi", portal="[fd00::7]:3261", initiator="iqn.2026-12.dev.egret:node-a",
                    auth_username="u", auth_password="pw", serial="v")
    xml = ("<domain><devices>" + to_string(disk_element(disk)) + "<serial><log file='/c'/></serial></devices>"
           "</domain>")
    inst = SimpleNamespace(domain_name="d", id="i", project_id="p", name="n")
    [back] = spec_from_xml(xml, inst, {"vcpus": 1, "ram": 64}).disks
    assert back == DiskSpec(**{**disk.__dict__, "auth_password": None})
