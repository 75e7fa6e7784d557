"""Many clients at once while background tasks update the same rows: no request may fail on SQLite locking."""
from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from services.storage import create_apps
from services.storage.drivers.fake import FakeDriver
from services.storage.models import Volume
from tests.unit.storage.storage_testlib import FakeCredentials


@pytest.fixture
def async_apps(settings):
    # volume work runs in background threads, as in production
    settings = dataclasses.replace(settings, service={"storage": {"synchronous": False}})
    return create_apps(settings, driver=FakeDriver(), credentials=FakeCredentials())


def test_parallel_creates_and_snapshots(async_apps, mint_token):
    app = async_apps["volume"]
    headers = {"X-Auth-Token": mint_token(user_id="u", project_id="p", roles=["member", "reader"])}
    app.extensions["egret.manager"].volumes.set_quotas("p", {"volumes": 100, "snapshots": 100})
    failures = []

    def worker(n):
        client = app.test_client()
        for i in range(5):
            r = client.post("/v3/p/volumes", json={"volume": {"size": 1, "name": f"v{n}-{i}"}}, headers=headers)
            if r.status_code != 202:
                failures.append(r.json)
                continue
            vid = r.json["volume"]["id"]
            for _ in range(200):
                if client.get(f"/v3/p/volumes/{vid}", headers=headers).json["volume"]["status"] == "available":
                    break
                time.sleep(0.01)
            r = client.post("/v3/p/snapshots", json={"snapshot": {"volume_id": vid}}, headers=headers)
            if r.status_code != 202:
                failures.append(r.json)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    assert Volume.select().count() == 30
