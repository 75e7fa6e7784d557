"""The volume client's word on where a volume lives, alike from the fake and the real storage service: the node in
os-vol-host-attr:host for compute's service credentials only, and in the attachment's connection_info (issue 14)."""
from __future__ import annotations

import uuid

import pytest
from service_clients_support import A, B, FakeWorld, RealWorld

from appliance.testing.plugin import make_settings
from services.compute import volume_nodes
from services.compute.external import ExternalError

SERVICE = None
NODE = "alpha"


@pytest.fixture(params=["fakes", "real-services"])
def world(request, tmp_path):
    settings = make_settings(tmp_path / "state")
    made = (FakeWorld if request.param == "fakes" else RealWorld)(settings)
    settings.service.setdefault("cluster", {})["node_name"] = NODE   # the storage box's name in its site
    made.node_volume = (lambda p: made.volume.add_volume(project_id=p, node=NODE)["id"]) \
        if request.param == "fakes" else made.make_volume
    yield made
    made.close()


def test_the_service_sees_the_node_a_member_does_not(world):
    vol = world.node_volume(A)
    assert volume_nodes.HOST_ATTR not in world.volume.get_volume(A, vol, world.tokens[A])
    with pytest.raises(ExternalError) as err:
        world.volume.get_volume(B, vol, world.tokens[B])
    assert err.value.status in (403, 404) and NODE not in str(err.value)
    found = world.volume.get_volume(A, vol, SERVICE)
    assert found[volume_nodes.HOST_ATTR] == f"{NODE}@file#file"
    assert volume_nodes.parse(found[volume_nodes.HOST_ATTR]) == NODE


def test_the_connection_info_names_the_same_node(world):
    vol = world.node_volume(A)
    connector = {"host": "beta", "platform": "x86_64", "os_type": "linux", "multipath": False, "initiator": None,
                 "mountpoint": "/dev/vdb"}
    att = world.volume.create_attachment(A, vol, str(uuid.uuid4()), connector, SERVICE)
    assert att["connection_info"]["data"]["node"] == NODE
    world.volume.delete_attachment(A, att["id"], SERVICE)


def test_storages_pools_say_whether_a_node_exports_its_volumes_to_the_service_only(world):
    """Cinder's scheduler-stats/get_pools (service or admin): one pool per node whose disk holds volumes, its
    storage_protocol "iSCSI" when that node exports them to other nodes, "file" when it cannot."""
    world.node_volume(A)
    try:
        pools = world.volume.get_pools(A, SERVICE)
    except ExternalError as exc:
        if exc.status == 404:   # the storage side of issue 14's iSCSI export is built in parallel
            pytest.skip("storage does not serve scheduler-stats/get_pools yet")
        raise
    assert pools and all(volume_nodes.parse(p["name"]) for p in pools), pools
    assert {p["capabilities"]["storage_protocol"] for p in pools} <= {"iSCSI", "file"}
    assert NODE in {volume_nodes.parse(p["name"]) for p in pools}
    with pytest.raises(ExternalError) as err:
        world.volume.get_pools(A, world.tokens[A])
    assert err.value.status in (403, 404)
