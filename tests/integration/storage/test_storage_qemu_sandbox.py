"""Issue 12, defence in depth: qemu-img in bubblewrap cannot read a file it was not handed, even when the
inspection is bypassed; the real file backend refuses hostile sources, including one naming another project's
volume file."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from appliance import diskimage
from appliance.tokens import KeyRepository
from services.storage import create_apps
from services.storage.drivers.base import DriverError
from services.storage.drivers.file import FileDriver
from services.storage.drivers.lvm import LvmThinDriver
from services.storage.models import Image, Volume
from services.storage.s3.credentials import FakeCredentials
from tests.unit.storage.image_attacks import SECRET, build, flat_descriptor, leaked, make_canary

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not diskimage.shutil.which("bwrap"), reason="bubblewrap is not installed "
                                 "(scripts/setup-debian.sh installs it)")]
# the tricks that make an unguarded qemu-img read another file
READERS = ["vmdk-absolute-flat-extent", "vmdk-relative-extent", "qcow2-backing-file", "qcow2-json-backing",
           "qcow2-external-data-file"]


def _plain_convert(src: Path, fmt: str, out: Path) -> bytes:
    subprocess.run(["qemu-img", "convert", "-f", fmt, "-O", "raw", str(src), str(out)], check=True,
                   capture_output=True)
    return out.read_bytes()


@pytest.mark.parametrize("attack", READERS)
def test_the_sandbox_stops_a_conversion_that_names_an_outside_file(attack, tmp_path):
    (tmp_path / "secret").mkdir()
    canary = make_canary(tmp_path / "secret" / "fernet-key-0")
    work = tmp_path / "work"
    work.mkdir()
    fmt, data = build(attack, tmp_path, canary, work)
    src = work / "evil"
    src.write_bytes(data)
    # the control: without the sandbox this image really does read the canary (so the test shows something)
    assert SECRET in _plain_convert(src, fmt, tmp_path / "unsandboxed.raw")
    # the inspector would refuse it; here it is bypassed and qemu-img is called directly
    out = work / "out.raw"
    out.touch()
    with pytest.raises(diskimage.QemuImgError) as err:
        diskimage.run_qemu_img(["convert", "-f", fmt, "-O", "raw", str(src), str(out)],
                               readable=[src], writable=[out])
    assert "no such file" in str(err.value).lower() or "could not open" in str(err.value).lower()
    assert SECRET not in out.read_bytes() and SECRET not in str(err.value).encode()
    # info walks the chain: it fails where the chain leaves the sandbox (a data file it does not open at all)
    try:
        shown = diskimage.run_qemu_img(["info", "--backing-chain", "-f", fmt, str(src)], readable=[src])
    except diskimage.QemuImgError as exc:
        shown = str(exc)
    assert SECRET not in shown.encode()
    if attack != "qcow2-external-data-file":
        assert "could not open" in shown.lower()


def test_the_sandbox_sees_no_state_dir_and_no_network(tmp_path):
    """What qemu-img sees: its files, the system's libraries, an empty /tmp; not /root, not /etc's secrets."""
    canary = make_canary(tmp_path / "fernet-key-0")
    cmd = diskimage.bwrap_command(["/bin/sh", "-c", f"cat {canary}; ls -A /tmp; cat /etc/shadow; ls /root; "
                                   "ls /var/lib /proc/self"], readable=[], writable=[])
    proc = subprocess.run(cmd, capture_output=True)
    assert SECRET not in proc.stdout and proc.stdout == b""
    assert proc.stderr.count(b"No such file") == 5, proc.stderr
    # the only network device inside is the new namespace's own loopback
    net = subprocess.run(diskimage.bwrap_command(["/usr/bin/python3", "-c", "import socket; "
                                                  "print([n for _, n in socket.if_nameindex()])"]),
                         capture_output=True, text=True)
    assert net.stdout.strip() == "['lo']", net
    # what it is handed, it can read, and only write what is writable
    given = tmp_path / "given"
    given.write_bytes(b"hello")
    ok = subprocess.run(diskimage.bwrap_command(["/bin/sh", "-c", f"cat {given}; echo x > {given}"],
                                                readable=[given]), capture_output=True)
    assert ok.stdout == b"hello" and b"Read-only" in ok.stderr and given.read_bytes() == b"hello"


def test_run_qemu_img_insists_on_an_explicit_format(tmp_path):
    img = tmp_path / "a.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), "1M"], check=True)
    with pytest.raises(ValueError, match="-f"):
        diskimage.run_qemu_img(["info", str(img)], readable=[img])
    assert '"format": "qcow2"' in diskimage.run_qemu_img(["info", "--output=json", "-f", "qcow2", str(img)],
                                                         readable=[img])


@pytest.fixture
def cloud(settings):
    drv = FileDriver(settings.state_dir / "storage" / "volumes", "qcow2")
    apps = create_apps(settings, driver=drv, credentials=FakeCredentials())
    return apps["image"].test_client(), apps["volume"].test_client(), drv


def test_another_projects_volume_cannot_be_read_through_an_extent(cloud, tokens, settings, tmp_path):
    """Bob's volume holds a secret; Alice's image names Bob's volume file as its extent."""
    images, volumes, drv = cloud
    bob = volumes.post("/v3/p-bob/volumes", json={"volume": {"size": 1, "name": "bob"}},
                       headers=tokens["bob"]).json["volume"]
    assert bob["status"] == "available"
    drv.write(bob["id"], 0, SECRET)
    bob_file = drv.path(bob["id"])
    evil = flat_descriptor(str(bob_file))
    h = tokens["alice"]
    # 1. through Glance: refused, queued, nothing stored
    img = images.post("/v2/images", json={"name": "evil", "disk_format": "vmdk", "container_format": "bare"},
                      headers=h).json
    r = images.put(f"/v2/images/{img['id']}/file", data=evil, headers={**h, "Content-Type": "application/octet-stream"})
    assert r.status_code == 400 and "vmdk images are accepted only" in r.json["message"].lower()
    assert images.get(f"/v2/images/{img['id']}", headers=h).json["status"] == "queued"
    # 2. planted in the store (data from before the inspector): the volume API refuses it with Cinder's 400
    store = settings.state_dir / "storage" / "images"
    (store / img["id"]).write_bytes(evil)
    Image.update(status="active", size=len(evil)).where(Image.id == img["id"]).execute()
    r = volumes.post("/v3/p-alice/volumes", json={"volume": {"imageRef": img["id"], "size": 1}}, headers=h)
    assert r.status_code == 400 and "unacceptable" in r.json["badRequest"]["message"]
    assert Volume.select().where(Volume.project_id == "p-alice").count() == 0
    # 3. the driver on its own (a remote node's agent): refused before qemu-img, no file left
    with pytest.raises(DriverError, match="refused"):
        drv.create_from_image("stolen", 1, store / img["id"], "vmdk")
    assert not drv.exists("stolen") and not drv._tmp(drv.path("stolen")).exists()
    # Bob's bytes are only in Bob's volume
    assert leaked(settings.state_dir) == [str(bob_file)]


@pytest.mark.parametrize("attack", READERS)
def test_the_file_driver_refuses_hostile_sources(attack, settings, tmp_path):
    drv = FileDriver(settings.state_dir / "storage" / "volumes", "qcow2")
    canary = make_canary(tmp_path / "fernet-key-0")
    store = settings.state_dir / "storage" / "images"
    store.mkdir(parents=True)
    fmt, data = build(attack, tmp_path, canary, store)
    (store / "img").write_bytes(data)
    with pytest.raises(DriverError, match="refused"):
        drv.create_from_image("v1", 1, store / "img", fmt)
    assert not drv.exists("v1") and list(drv.dir.iterdir()) == []
    assert leaked(settings.state_dir) == []


def test_safe_conversions_still_work_in_the_sandbox(settings, tmp_path):
    """vmdk (monolithicSparse), vhdx, vdi and raw images become volumes; clones and snapshots too."""
    drv = FileDriver(settings.state_dir / "storage" / "volumes", "qcow2")
    for n, (fmt, opts) in enumerate([("vmdk", ["-f", "vmdk"]), ("vhdx", ["-f", "vhdx"]), ("vdi", ["-f", "vdi"]),
                                     ("vhd", ["-f", "vpc"]), ("raw", ["-f", "raw"])]):
        src = tmp_path / f"src-{n}"
        subprocess.run(["qemu-img", "create", "-q", *opts, str(src), "1M"], check=True)
        drv.create_from_image(f"v{n}", 1, src, fmt)
        assert drv.virtual_size(f"v{n}") == 1024 ** 3
    drv.write("v0", 4096, b"data")
    drv.clone_volume("c0", 2, "v0")
    drv.create_snapshot("s0", "c0")
    drv.create_from_snapshot("r0", 2, "s0")
    assert drv.read("r0", 4096, 4) == b"data" and drv.virtual_size("r0") == 2 * 1024 ** 3


def test_the_issue_descriptor_cannot_reach_the_token_keys_credential_keys_or_databases(cloud, tokens, settings):
    """Issue 12 as filed: a member's VMDK whose FLAT extent is <state_dir>/fernet-keys/0 (absolute and relative),
    the credential keys or the storage database."""
    images, volumes, drv = cloud
    KeyRepository(settings.credential_key_repository, private=True).setup()
    store = settings.state_dir / "storage" / "images"
    targets = [settings.key_repository / "0", settings.credential_key_repository / "1"]
    databases = sorted(settings.state_dir.glob("*.db"))
    assert databases or settings.database_url  # on SQLite every service's rows are <state_dir>/*.db files
    targets += databases
    assert all(t.stat().st_size > 0 for t in targets)
    h = tokens["alice"]
    for target in targets:
        secret = target.read_bytes()[:32]
        for extent in (str(target), os.path.relpath(target, store)):
            evil = flat_descriptor(extent)
            img = images.post("/v2/images", json={"name": "evil", "disk_format": "vmdk",
                                                  "container_format": "bare"}, headers=h).json
            r = images.put(f"/v2/images/{img['id']}/file", data=evil,
                           headers={**h, "Content-Type": "application/octet-stream"})
            assert r.status_code == 400 and "vmdk images are accepted only" in r.json["message"].lower()
            assert images.get(f"/v2/images/{img['id']}", headers=h).json["status"] == "queued"
            # and with the inspector bypassed, the sandbox still cannot open it
            src = store / f"planted-{img['id']}"
            store.mkdir(parents=True, exist_ok=True)
            src.write_bytes(evil)
            out = drv.dir / "out.raw"
            out.touch()
            with pytest.raises(diskimage.QemuImgError, match="No such file"):
                diskimage.run_qemu_img(["convert", "-f", "vmdk", "-O", "raw", str(src), str(out)],
                                       readable=[src], writable=[out])
            assert secret not in out.read_bytes()
            for root in (store, drv.dir):
                assert not [p for p in root.iterdir() if secret in p.read_bytes()]


@pytest.mark.parametrize("attack", ["vmdk-absolute-flat-extent", "qcow2-backing-file", "qcow2-uploaded-as-raw"])
def test_the_lvm_driver_inspects_before_it_creates_an_lv(attack, tmp_path):
    """No device-mapper here, so no LV: the refusal must come from the inspector, before lvcreate would run."""
    canary = make_canary(tmp_path / "fernet-key-0")
    fmt, data = build(attack, tmp_path, canary, tmp_path)
    src = tmp_path / "img"
    src.write_bytes(data)
    with pytest.raises(DriverError, match="is refused"):
        LvmThinDriver("egret-no-such-vg", "pool").create_from_image("v1", 1, src, fmt)
