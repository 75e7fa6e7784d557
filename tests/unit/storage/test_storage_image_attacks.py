"""Issue 12: hostile disk images through the real Glance upload API and Cinder's volume-from-image: refused with
a 400 naming the reason, never stored, never active, and no byte of the file they point at read anywhere."""
from __future__ import annotations

import subprocess

import pytest

from services.storage.models import Image, Volume
from tests.unit.storage.image_attacks import ATTACKS, build, leaked, make_canary
from tests.unit.storage.storage_testlib import db_state, files_under

OCTET = {"Content-Type": "application/octet-stream"}
V = "/v3/p-alice"


def _image(client, h, disk_format):
    r = client.post("/v2/images", json={"name": "evil", "disk_format": disk_format, "container_format": "bare"},
                    headers=h)
    assert r.status_code == 201, r.json
    return r.json


@pytest.fixture
def canary(tmp_path):
    """Stands for state_dir/fernet-keys/0; it lives beside the state dir, as the real keys do."""
    return make_canary(tmp_path / "fernet-key-0")


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_upload_refused_with_reason_and_nothing_stored(attack, image_client, tokens, tmp_path, settings, canary):
    h = tokens["alice"]
    store = settings.state_dir / "storage" / "images"
    disk_format, data = build(attack, tmp_path, canary, store)
    img = _image(image_client, h, disk_format)
    before = db_state()
    r = image_client.put(f"/v2/images/{img['id']}/file", data=data, headers={**h, **OCTET})
    assert r.status_code == 400, (r.status_code, r.data)
    assert r.json["code"] == 400 and r.json["error"]["code"] == 400  # Glance's error format
    assert "image format check failed" in r.json["message"].lower()
    assert ATTACKS[attack].lower() in r.json["message"].lower(), r.json["message"]
    # as Glance does: a refused upload leaves the image queued, without data
    assert db_state() == before
    shown = image_client.get(f"/v2/images/{img['id']}", headers=h).json
    assert shown["status"] == "queued" and shown["size"] is None and shown["checksum"] is None
    assert image_client.get(f"/v2/images/{img['id']}/file", headers=h).status_code == 204
    assert files_under(store) == []
    assert leaked(settings.state_dir) == []


@pytest.mark.parametrize("attack", ["vmdk-absolute-flat-extent", "vmdk-relative-extent", "qcow2-backing-file",
                                    "qcow2-json-backing", "qcow2-external-data-file", "qcow2-uploaded-as-raw"])
def test_volume_from_a_stored_hostile_image_is_refused(attack, apps, volume_client, tokens, tmp_path, settings,
                                                       canary):
    """Data stored before the inspector (or planted in the store) is inspected again when it becomes a volume."""
    images = apps["image"].test_client()
    h = tokens["alice"]
    store = settings.state_dir / "storage" / "images"
    disk_format, data = build(attack, tmp_path, canary, store)
    img = _image(images, h, disk_format)
    store.mkdir(parents=True, exist_ok=True)
    (store / img["id"]).write_bytes(data)
    Image.update(status="active", size=len(data), virtual_size=len(data)).where(Image.id == img["id"]).execute()
    before = Volume.select().count()
    r = volume_client.post(f"{V}/volumes", json={"volume": {"imageRef": img["id"], "size": 1, "name": "stolen"}},
                           headers=h)
    assert r.status_code == 400, (r.status_code, r.data)
    (fault, body), = r.json.items()
    assert fault == "badRequest" and body["code"] == 400
    assert f"image {img['id']} is unacceptable" in body["message"].lower()
    assert ATTACKS[attack].lower() in body["message"].lower(), body["message"]
    assert Volume.select().count() == before
    assert volume_client.get(f"{V}/volumes", headers=h).json["volumes"] == []
    assert leaked(settings.state_dir) == [] or attack == "qcow2-uploaded-as-raw"


def test_safe_images_of_every_inspected_format_are_accepted(image_client, tokens, tmp_path, settings):
    """The inspector is not a wall: the formats qemu-img makes in their safe subformats still upload."""
    h = tokens["alice"]
    cases = [("qcow2", ["-f", "qcow2"]), ("vmdk", ["-f", "vmdk"]),
             ("vmdk", ["-f", "vmdk", "-o", "subformat=streamOptimized"]), ("vhd", ["-f", "vpc"]),
             ("vhdx", ["-f", "vhdx"]), ("vdi", ["-f", "vdi"]), ("raw", ["-f", "raw"])]
    for n, (disk_format, opts) in enumerate(cases):
        path = tmp_path / f"ok-{n}"
        subprocess.run(["qemu-img", "create", "-q", *opts, str(path), "1M"], check=True)
        img = _image(image_client, h, disk_format)
        r = image_client.put(f"/v2/images/{img['id']}/file", data=path.read_bytes(), headers={**h, **OCTET})
        assert r.status_code == 204, (disk_format, opts, r.json)
        shown = image_client.get(f"/v2/images/{img['id']}", headers=h).json
        assert shown["status"] == "active" and shown["virtual_size"] >= 1024 * 1024, shown


def test_a_kernel_with_a_boot_sector_signature_is_an_aki_but_not_a_raw_disk(image_client, tokens):
    """A bzImage keeps 0x55AA at byte 510 with setup code where an MBR's partition entries would be: fine as a
    kernel (aki, only ever read with -f raw), refused as a raw disk, as Nova refuses it."""
    h = tokens["alice"]
    kernel = bytearray(b"\x90" * 8192)
    kernel[510:512] = b"\x55\xaa"
    for disk_format, status in (("aki", 204), ("ari", 204), ("raw", 400)):
        img = _image(image_client, h, disk_format)
        r = image_client.put(f"/v2/images/{img['id']}/file", data=bytes(kernel), headers={**h, **OCTET})
        assert r.status_code == status, (disk_format, r.data)
        if status == 400:
            assert "partition table" in r.json["message"]
