"""A crash mid-operation leaves a clear state: restart reconciles volumes, snapshots, uploads and objects."""
from __future__ import annotations

from services.storage import Storage
from services.storage.models import Attachment, Bucket, Image, Snapshot, Volume
from tests.unit.storage.storage_testlib import V, create


def restart(settings, driver, creds):
    storage = Storage(settings, driver, creds)
    return storage, storage.reconcile()


def test_restart_finishes_or_fails_interrupted_volume_work(volume_client, tokens, driver, settings, creds):
    h = tokens["alice"]
    done = create(volume_client, h, name="done")
    lost = create(volume_client, h, name="lost")
    doomed = create(volume_client, h, name="doomed")
    grown = create(volume_client, h, name="grown")
    stuck = create(volume_client, h, name="stuck")
    snap = volume_client.post(f"{V}/snapshots", json={"snapshot": {"volume_id": done["id"]}}, headers=h).json
    # simulate a crash: states persisted before the driver call, then the process died
    driver.delete_volume(lost["id"])
    Volume.update(status="creating").where(Volume.id.in_([done["id"], lost["id"]])).execute()
    Volume.update(status="deleting").where(Volume.id == doomed["id"]).execute()
    driver.extend_volume(grown["id"], 2)
    Volume.update(status="extending", task={"op": "extend", "new_size": 2}).where(Volume.id == grown["id"]).execute()
    Volume.update(status="attaching").where(Volume.id == stuck["id"]).execute()
    Snapshot.update(status="creating").where(Snapshot.id == snap["snapshot"]["id"]).execute()
    _, report = restart(settings, driver, creds)
    status = {v.name: (v.status, v.size) for v in Volume.select()}
    assert status == {"done": ("available", 1), "lost": ("error", 1), "grown": ("available", 2),
                      "stuck": ("error_attaching", 1)}
    assert not driver.exists(doomed["id"])
    assert Snapshot.get_by_id(snap["snapshot"]["id"]).status == "available"
    assert report["volumes_failed"] == 2 and report["volumes_finished"] == 3
    # an attach that the crash interrupted can still be completed
    att = Attachment.create(volume=stuck["id"], instance_uuid="i", connector={"host": "h"}, status="attaching")
    r = volume_client.post(f"{V}/attachments/{att.id}/action", json={"os-complete": None}, headers=h)
    assert r.status_code == 204
    assert Volume.get_by_id(stuck["id"]).status == "in-use"


def test_restart_resets_interrupted_image_upload_and_sweeps_temp_files(image_client, tokens, settings, driver,
                                                                       creds):
    h = tokens["alice"]
    img = image_client.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"}, headers=h).json
    Image.update(status="saving").where(Image.id == img["id"]).execute()
    images = settings.state_dir / "storage" / "images"
    (images / ".tmp-deadbeef").write_bytes(b"half an image")
    _, report = restart(settings, driver, creds)
    assert Image.get_by_id(img["id"]).status == "queued"
    assert report["images_reset"] == 1 and not (images / ".tmp-deadbeef").exists()


def test_restart_removes_half_written_and_orphaned_objects(s3, settings, driver, creds):
    assert s3.request("PUT", "/keep").status_code == 200
    assert s3.request("PUT", "/keep/k", body=b"kept").status_code == 200
    bucket = Bucket.get(Bucket.name == "keep")
    bdir = settings.state_dir / "storage" / "objects" / bucket.id
    (bdir / ".tmp-cafe").write_bytes(b"half")
    (bdir / "0123orphan").write_bytes(b"renamed but never recorded")
    _, report = restart(settings, driver, creds)
    assert report == {**report, "object_temp_files": 1, "object_orphans": 1}
    assert s3.request("GET", "/keep/k").data == b"kept"
