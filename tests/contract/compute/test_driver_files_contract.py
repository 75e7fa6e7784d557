"""The compute driver contract for a guest's files: overlays on inspected images, growing, copies, config drives."""
from __future__ import annotations

import json
import subprocess

import pytest

from services.compute.drivers import base

MiB = 1 << 20


def _info(path) -> dict:
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def _qcow2(path, size="64M", backing=None):
    opts = ["-b", str(backing), "-F", "qcow2"] if backing else []
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *opts, str(path), *([size] if size else [])],
                   check=True)
    return path


@pytest.fixture(scope="module")
def files(driver, workdir):
    path = workdir / ("files-" + type(driver).__name__)
    path.mkdir()
    path.chmod(0o755)
    return path


def test_overlay_on_an_image_grows_only_to_a_larger_size(driver, files):
    image = _qcow2(files / "image.qcow2")
    overlay = files / "disk"
    driver.create_overlay(str(image), "qcow2", str(overlay), 128 * MiB)
    info = _info(overlay)
    assert info["format"] == "qcow2" and info["virtual-size"] == 128 * MiB
    assert info["backing-filename"] == str(image)
    small = files / "small"
    driver.create_overlay(str(image), "qcow2", str(small), 32 * MiB)   # a flavor's disk below the image's size
    assert _info(small)["virtual-size"] == 64 * MiB
    raw = files / "image.raw"
    raw.write_bytes(b"\0" * MiB)
    driver.create_overlay(str(raw), "raw", str(files / "on-raw"), 0)
    assert _info(files / "on-raw")["backing-filename-format"] == "raw"


@pytest.mark.parametrize("make,fmt", [
    (lambda d: _qcow2(d / "with-backing.qcow2", backing=_qcow2(d / "elsewhere.qcow2")), "qcow2"),
    (lambda d: _qcow2(d / "lies.qcow2"), "raw"),        # a qcow2 image that says it is raw
])
def test_an_image_the_inspector_refuses_gets_no_overlay(driver, files, make, fmt):
    image = make(files)
    overlay = files / f"refused-{fmt}"
    with pytest.raises(base.UnsafeDisk):
        driver.create_overlay(str(image), fmt, str(overlay), 0)
    assert not overlay.exists()


def test_grow_and_copy_a_disk_on_its_image(driver, files):
    image = _qcow2(files / "grow-image.qcow2")
    disk = files / "grow-disk"
    driver.create_overlay(str(image), "qcow2", str(disk), 0)
    driver.grow_disk(str(disk), 1, backing=[str(image)])
    assert _info(disk)["virtual-size"] == 1 << 30
    copy = files / "snapshot.qcow2"
    driver.copy_disk(str(disk), str(copy), backing=[str(image)])
    info = _info(copy)
    assert info["format"] == "qcow2" and info["virtual-size"] == 1 << 30 and "backing-filename" not in info
    gone = files / "gone.qcow2"
    with pytest.raises(base.DriverError):
        driver.copy_disk(str(files / "no-such-disk"), str(gone))
    assert not gone.exists()                    # a failed copy leaves nothing behind
    with pytest.raises(base.DriverError):
        driver.grow_disk(str(files / "no-such-disk"), 1)


def test_config_drive_is_an_iso_labelled_config_2(driver, files):
    iso = files / "disk.config"
    driver.write_config_drive({"openstack/latest/meta_data.json": '{"uuid": "x"}', "ec2/latest/user-data": b"\0\1",
                               ".label": "config-2\n"}, str(iso))
    data = iso.read_bytes()
    assert data[0x8001:0x8006] == b"CD001"                       # the primary volume descriptor
    assert data[0x8028:0x8048].decode().strip() == "config-2"    # its volume identifier
    listing = subprocess.run(["isoinfo", "-R", "-f", "-i", str(iso)], capture_output=True, text=True).stdout
    assert "/openstack/latest/meta_data.json" in listing and "/ec2/latest/user-data" in listing
