"""The managers over the in-memory store: images and S3 objects go in and come out without touching the disk."""
from __future__ import annotations

import pytest

from services.storage import create_apps
from services.storage.stores.memory import MemoryStore
from tests.unit.storage.storage_testlib import files_under


@pytest.fixture
def stores():
    return {"images": MemoryStore(), "objects": MemoryStore()}


@pytest.fixture
def apps(settings, driver, creds, stores):
    return create_apps(settings, driver=driver, credentials=creds, stores=stores)


def test_an_image_goes_through_the_memory_store(image_client, tokens, stores, settings):
    a = tokens["alice"]
    img = image_client.post("/v2/images", json={"name": "m", "disk_format": "raw", "container_format": "bare"},
                            headers=a).json
    data = bytes(range(256)) * 64
    r = image_client.put(f"/v2/images/{img['id']}/file", data=data,
                         headers={**a, "Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.data
    assert stores["images"].list() == [img["id"]]
    assert image_client.get(f"/v2/images/{img['id']}/file", headers=a).data == data
    r = image_client.get(f"/v2/images/{img['id']}/file", headers={**a, "Range": "bytes=10-19"})
    assert r.status_code == 206 and r.data == data[10:20]
    assert image_client.delete(f"/v2/images/{img['id']}", headers=a).status_code == 204
    assert stores["images"].list() == []
    assert files_under(settings.state_dir / "storage" / "images") == []


def test_objects_go_through_the_memory_store(s3, stores, settings):
    assert s3.request("PUT", "/mem").status_code == 200
    assert s3.request("PUT", "/mem/a/b.txt", body=b"hello").status_code == 200
    r = s3.request("PUT", "/mem/copy", headers={"x-amz-copy-source": "/mem/a/b.txt"})
    assert r.status_code == 200, r.data
    assert s3.request("GET", "/mem/copy").data == b"hello"
    assert len(stores["objects"].list()) == 2
    assert s3.request("DELETE", "/mem/a/b.txt").status_code == 204
    assert s3.request("DELETE", "/mem/copy").status_code == 204
    assert stores["objects"].list() == []
    assert files_under(settings.state_dir / "storage" / "objects") == []
