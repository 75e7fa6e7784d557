"""Cinder accepts "metadata": null on volume and snapshot create (metadata_allows_null), as the openstack CLI sends."""
from __future__ import annotations

from tests.unit.storage.storage_testlib import V, assert_cinder_error, create


def test_volume_and_snapshot_create_with_null_metadata(volume_client, tokens):
    h = tokens["alice"]
    vol = create(volume_client, h, metadata=None)
    assert vol["metadata"] == {}
    r = volume_client.post(f"{V}/snapshots", json={"snapshot": {"volume_id": vol["id"], "name": "s",
                                                                 "metadata": None}}, headers=h)
    assert r.status_code == 202 and r.json["snapshot"]["metadata"] == {}
    # a wrong type is still refused, naming the field
    r = volume_client.post(f"{V}/volumes", json={"volume": {"size": 1, "metadata": ["x"]}}, headers=h)
    assert_cinder_error(r, 400, "metadata")
