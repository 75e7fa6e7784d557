"""One contract for every volume backend: fake and file here, LVM thin where device-mapper exists."""
from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

from services.storage.drivers.base import GiB, DriverError
from services.storage.drivers.fake import FakeDriver
from services.storage.drivers.file import FileDriver
from services.storage.drivers.lvm import LvmThinDriver, device_mapper_available

NO_DM = "no device-mapper on this kernel (DESIGN.md §9); runs inside the appliance image"


@pytest.fixture(scope="module")
def lvm_pool(tmp_path_factory):
    """A loop-backed VG with a thin pool, shared by the module's lvm cases (under TCG each LVM command costs
    seconds) and torn down afterwards; needs device-mapper and root."""
    if not device_mapper_available():
        pytest.skip(NO_DM)
    name = "eg" + uuid.uuid4().hex[:4]
    backing = tmp_path_factory.mktemp("lvm") / "pv.img"
    subprocess.run(["truncate", "-s", "4G", str(backing)], check=True)
    loop = subprocess.run(["losetup", "-f", "--show", str(backing)], check=True, capture_output=True,
                          text=True).stdout.strip()
    try:
        subprocess.run(["vgcreate", "-q", name, loop], check=True, capture_output=True)
        subprocess.run(["lvcreate", "-q", "-T", f"{name}/pool", "-L", "3G"], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["vgremove", "-q", "-f", name], capture_output=True)
        subprocess.run(["losetup", "-d", loop], capture_output=True)


def _lvs(vg):
    out = subprocess.run(["lvs", "--noheadings", "-o", "lv_name", vg], check=True, capture_output=True, text=True)
    return sorted(out.stdout.split())


@pytest.fixture(params=["fake", "file-qcow2", "file-raw", "lvm"])
def driver(request, tmp_path):
    if request.param == "fake":
        yield FakeDriver()
    elif request.param.startswith("file"):
        yield FileDriver(tmp_path / "volumes", request.param.split("-")[1])
    else:
        vg = request.getfixturevalue("lvm_pool")
        yield LvmThinDriver(vg, "pool")
        # every case deletes what it made: nothing but the pool may be left in the shared VG
        left = [lv for lv in _lvs(vg) if lv != "pool"]
        for lv in left:
            subprocess.run(["lvremove", "-q", "-f", f"{vg}/{lv}"], capture_output=True)
        assert left == [], f"leaked logical volumes: {left}"


def vid():
    return str(uuid.uuid4())


def test_blank_volume_reads_zeros_and_has_its_size(driver):
    v = vid()
    driver.create_volume(v, 1)
    assert driver.exists(v) and driver.virtual_size(v) == GiB
    assert driver.read(v, GiB - 4096, 4096) == b"\0" * 4096
    with pytest.raises(DriverError):
        driver.create_volume(v, 1)
    driver.delete_volume(v)
    assert not driver.exists(v)
    driver.delete_volume(v)  # idempotent


def test_write_read_extend(driver):
    v = vid()
    driver.create_volume(v, 1)
    driver.write(v, 1024 * 1024, b"hello volume")
    assert driver.read(v, 1024 * 1024, 12) == b"hello volume"
    driver.extend_volume(v, 2)
    assert driver.virtual_size(v) == 2 * GiB
    assert driver.read(v, 1024 * 1024, 12) == b"hello volume"
    with pytest.raises(DriverError):
        driver.extend_volume(v, 1)
    driver.delete_volume(v)


def test_snapshots_are_point_in_time_and_deletable_in_any_order(driver):
    v, s, from_snap, clone = vid(), vid(), vid(), vid()
    driver.create_volume(v, 1)
    driver.write(v, 0, b"before")
    driver.create_snapshot(s, v)
    assert driver.snapshot_exists(s)
    driver.write(v, 0, b"after!")
    driver.create_from_snapshot(from_snap, 2, s)
    assert driver.read(from_snap, 0, 6) == b"before" and driver.virtual_size(from_snap) == 2 * GiB
    driver.clone_volume(clone, 1, v)
    assert driver.read(clone, 0, 6) == b"after!"
    # delete the origin first, then the snapshot: the derived volumes keep their data
    driver.delete_volume(v)
    assert driver.snapshot_exists(s)
    driver.delete_snapshot(s)
    assert not driver.snapshot_exists(s)
    driver.delete_snapshot(s)  # idempotent
    assert driver.read(from_snap, 0, 6) == b"before" and driver.read(clone, 0, 6) == b"after!"
    with pytest.raises(DriverError):
        driver.create_from_snapshot(vid(), 1, s)
    for x in (from_snap, clone):
        driver.delete_volume(x)


def test_volume_from_raw_image(driver, tmp_path):
    image = tmp_path / "disk.raw"
    image.write_bytes(b"MBR!" + b"\0" * 508 + b"second sector")
    v = vid()
    driver.create_from_image(v, 1, image, "raw")
    assert driver.read(v, 0, 4) == b"MBR!" and driver.read(v, 512, 13) == b"second sector"
    assert driver.virtual_size(v) == GiB
    driver.delete_volume(v)


def test_connection_info(driver):
    v = vid()
    driver.create_volume(v, 1)
    info = driver.connection_info(v)
    assert info["driver_volume_type"] in ("file", "block")
    assert info["data"]["path"].startswith("/") and info["data"]["format"] in ("raw", "qcow2")
    with pytest.raises(DriverError):
        driver.connection_info(vid())
    driver.delete_volume(v)


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is part of the base packages")
def test_file_driver_specifics(tmp_path):
    """The file is where connection_info says, in the format it says, and it refuses backing-file sources."""
    import json
    drv = FileDriver(tmp_path / "v", "qcow2")
    v = vid()
    drv.create_volume(v, 1)
    info = drv.connection_info(v)
    out = json.loads(subprocess.run(["qemu-img", "info", "--output=json", info["data"]["path"]], check=True,
                                    capture_output=True, text=True).stdout)
    assert out["format"] == "qcow2" and out["virtual-size"] == GiB and "backing-filename" not in out
    base = tmp_path / "base.raw"
    base.write_bytes(b"\0" * 512)
    evil = tmp_path / "evil.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "raw", str(evil)], check=True)
    with pytest.raises(DriverError, match="backing"):
        drv.create_from_image(vid(), 1, evil, "qcow2")
    with pytest.raises(DriverError, match="only 1 GiB"):
        big = tmp_path / "big.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(big), "3G"], check=True)
        drv.create_from_image(vid(), 1, big, "qcow2")
    # failures leave no files behind
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == [f"volume-{v}.qcow2"]
