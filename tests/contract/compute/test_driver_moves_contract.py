"""The compute driver contract for moving a server's root disk between nodes: one node's export_root_disk is
another's import_root_disk (a cold migration), and a disk that is not a standalone qcow2 is refused."""
from __future__ import annotations

import hashlib
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from services.compute.drivers import base


def _info(path) -> dict:
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def _chunks(path, size=64 * 1024):
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


@pytest.fixture(scope="module")
def files(driver, workdir):
    path = workdir / ("moves-" + type(driver).__name__ + "-" + uuid.uuid4().hex[:4])
    path.mkdir()
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def image(driver, files):
    source = files / "image.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(source), "64M"], check=True)
    image_id = str(uuid.uuid4())
    driver.cache_image(image_id, _chunks(source), "sha256", hashlib.sha256(source.read_bytes()).hexdigest())
    return image_id


def test_an_exported_root_disk_imports_as_a_standalone_root_disk(driver, image):
    source, moved = str(uuid.uuid4()), str(uuid.uuid4())
    driver.create_root_disk(source, image, "qcow2", 0)
    driver.grow_root_disk(source, image, 1)
    disk = driver.import_root_disk(moved, driver.export_root_disk(source, image))
    info = _info(disk)
    assert info["format"] == "qcow2" and info["virtual-size"] == 1 << 30 and "backing-filename" not in info
    assert sorted(p.name for p in Path(disk).parent.iterdir()) == ["disk"]     # nothing half-written beside it
    # the imported disk is the server's root disk: the other file calls find it
    assert b"".join(driver.export_root_disk(moved, None))
    # importing again replaces it (a migration retried onto this node)
    again = driver.import_root_disk(moved, driver.export_root_disk(source, image))
    assert again == disk and _info(again)["virtual-size"] == 1 << 30
    driver.delete_instance_files(source)
    driver.delete_instance_files(moved)


def test_a_disk_that_is_not_a_standalone_qcow2_is_refused_and_leaves_nothing(driver, files, image):
    overlay = files / f"overlay-{uuid.uuid4().hex[:6]}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/shadow", "-F", "raw", str(overlay)],
                   check=True)
    server = str(uuid.uuid4())
    with pytest.raises(base.UnsafeDisk):
        driver.import_root_disk(server, _chunks(overlay))
    with pytest.raises(base.NotFound):                 # no root disk was made
        driver.export_root_disk(server, None)
    with pytest.raises(base.UnsafeDisk):
        driver.import_root_disk(server, iter([b"not a disk image at all" * 100]))
    with pytest.raises(base.DriverError, match="instance_id"):
        driver.import_root_disk("../escape", iter([b"x"]))
