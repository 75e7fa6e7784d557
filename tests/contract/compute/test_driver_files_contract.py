"""The compute driver contract for a node's files: the image cache (verified by checksum), root disks on inspected
images, growing, exports, config drives, console logs, and removing a server's files.

Paths the driver returns are the node's; these tests open them only to check their contents (every driver here
runs on this machine)."""
from __future__ import annotations

import hashlib
import json
import subprocess
import uuid
from pathlib import Path

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


def _chunks(path, size=64 * 1024):
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def _sha512(path) -> str:
    return hashlib.sha512(Path(path).read_bytes()).hexdigest()


def _new_id() -> str:
    return str(uuid.uuid4())


def _cache(driver, path) -> str:
    """Cache the image file at `path` under a new id, verified with sha512 as Glance reports it; its id."""
    image_id = _new_id()
    driver.cache_image(image_id, _chunks(path), "sha512", _sha512(path))
    return image_id


@pytest.fixture(scope="module")
def files(driver, workdir):
    path = workdir / ("files-" + type(driver).__name__ + "-" + uuid.uuid4().hex[:4])
    path.mkdir()
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def image(driver, files):
    """A 64 MiB qcow2 image, cached once for the module: (its id, its source file)."""
    source = _qcow2(files / "image.qcow2")
    return _cache(driver, source), source


# -- the image cache -------------------------------------------------------------------------------------------
def test_an_image_is_cached_once_verified_and_reused(driver, files, image):
    image_id, source = image
    assert driver.image_cached(image_id)
    cached = driver.cached_image_path(image_id)
    assert Path(cached).read_bytes() == source.read_bytes()
    assert driver.image_cached(image_id)                        # asked again: still there, nothing to fetch
    other = _new_id()
    assert not driver.image_cached(other)
    with pytest.raises(base.DriverError, match=other):
        driver.cached_image_path(other)
    # Glance's legacy md5 `checksum` verifies as well
    driver.cache_image(other, _chunks(source), "md5", hashlib.md5(source.read_bytes()).hexdigest())
    assert driver.image_cached(other) and Path(driver.cached_image_path(other)).read_bytes() == source.read_bytes()
    # and whatever hashlib algorithm Glance is configured with (its hashing_algorithm)
    third = _new_id()
    driver.cache_image(third, _chunks(source), "sha3_256", hashlib.sha3_256(source.read_bytes()).hexdigest())
    assert driver.image_cached(third)


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(driver, files, image):
    image_id, source = image
    cache_dir = Path(driver.cached_image_path(image_id)).parent
    before = sorted(p.name for p in cache_dir.iterdir())
    bad = _new_id()
    with pytest.raises(base.DriverError, match=bad):
        driver.cache_image(bad, _chunks(source), "sha512", "0" * 128)
    assert not driver.image_cached(bad)
    with pytest.raises(base.DriverError, match="hash_algo"):
        driver.cache_image(bad, _chunks(source), "crc32", "0" * 128)
    with pytest.raises(base.DriverError, match="hash_value"):
        driver.cache_image(bad, _chunks(source), "sha512", "not hex")

    def broken():                                # the image service goes away half-way
        yield source.read_bytes()[:MiB]
        raise OSError("connection reset")
    with pytest.raises(Exception):
        driver.cache_image(bad, broken(), "sha512", _sha512(source))
    assert not driver.image_cached(bad)
    assert sorted(p.name for p in cache_dir.iterdir()) == before   # no partial file, no temp file


@pytest.mark.parametrize("hostile", ["../escape", "_base", "", "a/b", ".hidden", "x" * 200, 7])
def test_ids_that_are_not_one_plain_name_are_refused(driver, hostile):
    """Image and server IDs become file names on the node, and a remote caller chooses them."""
    with pytest.raises(base.DriverError, match="image_id"):
        driver.cache_image(hostile, iter([b"x"]), None, None)
    with pytest.raises(base.DriverError, match="image_id"):
        driver.image_cached(hostile)
    with pytest.raises(base.DriverError, match="instance_id"):
        driver.console_path(hostile)
    with pytest.raises(base.DriverError, match="instance_id"):
        driver.delete_instance_files(hostile)


# -- root disks --------------------------------------------------------------------------------------------------
def test_a_root_disk_is_an_overlay_on_the_cached_image_grown_only_to_a_larger_size(driver, files, image):
    image_id, _ = image
    big = _new_id()
    disk = driver.create_root_disk(big, image_id, "qcow2", 128 * MiB)
    info = _info(disk)
    assert info["format"] == "qcow2" and info["virtual-size"] == 128 * MiB
    assert info["backing-filename"] == driver.cached_image_path(image_id)
    assert driver.create_root_disk(big, image_id, "qcow2", 128 * MiB) == disk     # kept, as a resumed build wants
    small = driver.create_root_disk(_new_id(), image_id, "qcow2", 32 * MiB)   # a flavor's disk below the image's
    assert _info(small)["virtual-size"] == 64 * MiB
    raw = files / "image.raw"
    raw.write_bytes(b"\0" * MiB)
    on_raw = driver.create_root_disk(_new_id(), _cache(driver, raw), "raw", 0)
    assert _info(on_raw)["backing-filename-format"] == "raw"
    uncached = _new_id()
    with pytest.raises(base.DriverError, match=uncached):
        driver.create_root_disk(_new_id(), uncached, "qcow2", 0)
    with pytest.raises(base.DriverError, match="fmt"):
        driver.create_root_disk(_new_id(), image_id, "vmdk", 0)


@pytest.mark.parametrize("make,fmt", [
    (lambda d: _qcow2(d / "with-backing.qcow2", backing=_qcow2(d / "elsewhere.qcow2")), "qcow2"),
    (lambda d: _qcow2(d / "lies.qcow2"), "raw"),        # a qcow2 image that says it is raw
])
def test_an_image_the_inspector_refuses_gets_no_root_disk(driver, files, make, fmt):
    image_id = _cache(driver, make(files))
    server = _new_id()
    with pytest.raises(base.UnsafeDisk):
        driver.create_root_disk(server, image_id, fmt, 0)
    with pytest.raises(base.NotFound):             # nothing was made: there is no root disk to export
        driver.export_root_disk(server, image_id)


def test_grow_and_export_a_root_disk(driver, files, image):
    image_id, _ = image
    server = _new_id()
    disk = driver.create_root_disk(server, image_id, "qcow2", 0)
    driver.grow_root_disk(server, image_id, 1)
    assert _info(disk)["virtual-size"] == 1 << 30
    before = sorted(p.name for p in Path(disk).parent.iterdir())
    chunks = driver.export_root_disk(server, image_id)
    out = files / f"export-{server}.qcow2"
    with open(out, "wb") as fh:
        for chunk in chunks:
            assert isinstance(chunk, bytes)
            fh.write(chunk)
    info = _info(out)
    assert info["format"] == "qcow2" and info["virtual-size"] == 1 << 30 and "backing-filename" not in info
    subprocess.run(["qemu-img", "check", "-q", str(out)], check=True)
    assert sorted(p.name for p in Path(disk).parent.iterdir()) == before     # the node's copy is gone
    abandoned = driver.export_root_disk(server, image_id)
    next(iter(abandoned))
    getattr(abandoned, "close", lambda: None)()     # an upload that failed half-way
    assert sorted(p.name for p in Path(disk).parent.iterdir()) == before
    missing = _new_id()
    with pytest.raises(base.NotFound):
        driver.export_root_disk(missing, image_id)
    with pytest.raises(base.NotFound):
        driver.grow_root_disk(missing, image_id, 1)
    with pytest.raises(base.DriverError, match="size_gb"):
        driver.grow_root_disk(server, image_id, 0)


# -- config drive, console, removal -------------------------------------------------------------------------------
def test_config_drive_is_an_iso_labelled_config_2(driver, files):
    iso = driver.write_config_drive(_new_id(), {"openstack/latest/meta_data.json": '{"uuid": "x"}',
                                                "ec2/latest/user-data": b"\0\1", ".label": "config-2\n"})
    data = Path(iso).read_bytes()
    assert data[0x8001:0x8006] == b"CD001"                       # the primary volume descriptor
    assert data[0x8028:0x8048].decode().strip() == "config-2"    # its volume identifier
    listing = subprocess.run(["isoinfo", "-R", "-f", "-i", iso], capture_output=True, text=True).stdout
    assert "/openstack/latest/meta_data.json" in listing and "/ec2/latest/user-data" in listing
    content = subprocess.run(["isoinfo", "-R", "-x", "/ec2/latest/user-data", "-i", iso], capture_output=True)
    assert content.stdout == b"\0\1"


@pytest.mark.parametrize("key", ["../../escape", "/etc/escape", "a/../../escape", ""])
def test_config_drive_paths_stay_inside_the_drive(driver, files, key):
    server = _new_id()
    with pytest.raises(base.DriverError, match="files"):
        driver.write_config_drive(server, {key: "x", "ok": "y"})
    assert not (files.parent / "escape").exists() and not Path("/etc/escape").exists()


def test_console_log_tails_the_guests_console(driver):
    server = _new_id()
    assert driver.console_log(server) == ""                      # no log yet
    path = Path(driver.console_path(server))
    assert path.parent.is_dir()                                  # the hypervisor can create it there
    path.write_text("".join(f"line {n}\n" for n in range(10)))   # as the hypervisor logs it
    assert driver.console_log(server) == path.read_text()
    assert driver.console_log(server, 2) == "line 8\nline 9\n"
    assert driver.console_log(server, 0) == ""
    with pytest.raises(base.DriverError, match="lines"):
        driver.console_log(server, -3)


def test_deleting_a_servers_files_keeps_the_cache(driver, files, image):
    image_id, _ = image
    server = _new_id()
    disk = driver.create_root_disk(server, image_id, "qcow2", 0)
    iso = driver.write_config_drive(server, {"openstack/latest/meta_data.json": "{}"})
    Path(driver.console_path(server)).write_text("booted\n")
    driver.delete_instance_files(server)
    assert not Path(disk).exists() and not Path(iso).exists()
    assert driver.console_log(server) == ""
    with pytest.raises(base.NotFound):
        driver.export_root_disk(server, image_id)
    assert driver.image_cached(image_id)
    driver.delete_instance_files(server)                         # idempotent
