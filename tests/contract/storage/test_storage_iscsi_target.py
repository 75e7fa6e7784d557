"""One contract for the iSCSI target: the fake and a real tgtd (own control port, loopback portal), with real logins
through QEMU's libiscsi (qemu-io) against the real one: the right initiator and password read the volume, a wrong
password or initiator is refused, and an unexported target is gone."""
from __future__ import annotations

import os
import random
import socket
import subprocess
import uuid

import pytest

from appliance.testing.plugin import free_port
from services.storage.drivers.base import GiB, DriverError
from services.storage.drivers.fake import FakeTarget
from services.storage.drivers.file import FileDriver
from services.storage.drivers.tgt import IPC_DIR, TgtTarget, _which

BETA = "iqn.2026-12.dev.egret:beta"
GAMMA = "iqn.2026-12.dev.egret:gamma"
PATTERN = 0xAB


def _control_port() -> int:
    """A control port no tgtd answers on (a system tgtd uses 0; other tests pick theirs)."""
    for _ in range(50):
        port = random.randint(20000, 29999)
        probe = subprocess.run([_which("tgtadm"), "-C", str(port), "--mode", "sys", "--op", "show"],
                               capture_output=True, timeout=10)
        if probe.returncode != 0:
            return port
    raise RuntimeError("no free tgtd control port")


@pytest.fixture(scope="module")
def tgtd(tmp_path_factory):
    """A real tgtd started through the driver on 127.0.0.1 (a free port), killed afterwards."""
    if _which("tgtd") is None or _which("tgtadm") is None:
        pytest.skip("tgtd is not installed (Debian package tgt; scripts/setup-debian.sh installs it)")
    control = _control_port()
    target = TgtTarget(f"127.0.0.1:{free_port()}", control, tmp_path_factory.mktemp("tgtd") / "tgtd.log")
    yield target
    target.stop()
    for name in (f"socket.{control}", f"socket.{control}.lock"):
        (IPC_DIR / name).unlink(missing_ok=True)


@pytest.fixture(params=["fake", "tgtd"])
def target(request):
    if request.param == "fake":
        fake = FakeTarget()
        fake.ensure_running()
        yield fake
        return
    real = request.getfixturevalue("tgtd")
    real.ensure_running()
    yield real
    # every case takes away what it exported: the module's tgtd is shared
    left = real.targets()
    for iqn in left:
        real.unexport(iqn)
    assert left == {}, f"leaked targets: {sorted(left)}"


@pytest.fixture
def volume(tmp_path):
    """A qcow2 volume holding PATTERN in its first 64 KiB, ready to export (FileDriver.export_path)."""
    drv = FileDriver(tmp_path / "volumes", "qcow2")
    vid = str(uuid.uuid4())
    drv.create_volume(vid, 1)
    drv.write(vid, 0, bytes([PATTERN]) * 65536)
    return drv, vid, drv.export_path(vid)


def iqn() -> str:
    return f"iqn.2026-12.dev.egret:attachment-{uuid.uuid4()}"


def qemu_io(target: TgtTarget, name: str, initiator: str, user: str, password: str, command: str):
    opts = (f"driver=qcow2,file.driver=iscsi,file.transport=tcp,file.portal={target.portal},file.target={name},"
            f"file.lun=1,file.initiator-name={initiator},file.user={user},file.password-secret=s0")
    return subprocess.run(["qemu-io", "--image-opts", opts, "--object", f"secret,id=s0,data={password}",
                           "-c", command], capture_output=True, text=True, timeout=60)


def login(target, name, initiator, user, password) -> bool:
    """Whether an initiator logs in and reads the volume's first 64 KiB as PATTERN (the real one through
    libiscsi, as a remote QEMU does)."""
    if isinstance(target, FakeTarget):
        return target.login(name, initiator, user, password)
    proc = qemu_io(target, name, initiator, user, password, f"read -P {PATTERN:#x} 0 64k")
    return proc.returncode == 0 and "read 65536/65536 bytes" in proc.stdout


def test_the_right_initiator_and_password_read_the_volume_and_nobody_else(target, volume):
    _, _, path = volume
    name = iqn()
    target.export(name, path, BETA, "egret-a", "password-a-0123456789")
    shown = target.targets()[name]
    assert shown["path"] == path and shown["initiators"] == [BETA] and shown["accounts"] == ["egret-a"]
    assert login(target, name, BETA, "egret-a", "password-a-0123456789")
    assert not login(target, name, BETA, "egret-a", "wrong-password-0123")
    assert not login(target, name, GAMMA, "egret-a", "password-a-0123456789")
    assert not login(target, name, BETA, "egret-b", "password-a-0123456789")
    target.unexport(name)
    assert name not in target.targets()
    assert not login(target, name, BETA, "egret-a", "password-a-0123456789")


def test_export_is_idempotent_for_its_path_and_refuses_another(target, volume, tmp_path):
    _, _, path = volume
    name = iqn()
    target.export(name, path, BETA, "egret-a", "password-a-0123456789")
    tid = target.targets()[name]["tid"]
    target.export(name, path, BETA, "egret-a", "password-a-0123456789")
    assert target.targets()[name]["tid"] == tid and len(target.targets()) == 1
    other = tmp_path / "other.raw"
    other.write_bytes(b"\0" * 4096)
    with pytest.raises(DriverError, match="already exports"):
        target.export(name, str(other), BETA, "egret-a", "password-a-0123456789")
    # the same volume for another initiator: made again for that one alone, never widened to two
    target.export(name, path, GAMMA, "egret-g", "password-g-0123456789")
    assert target.targets()[name]["initiators"] == [GAMMA] and target.targets()[name]["accounts"] == ["egret-g"]
    assert login(target, name, GAMMA, "egret-g", "password-g-0123456789")
    assert not login(target, name, BETA, "egret-a", "password-a-0123456789")
    target.unexport(name)


def test_new_targets_take_the_lowest_free_id(target, volume):
    _, _, path = volume
    a, b, c = iqn(), iqn(), iqn()
    target.export(a, path, BETA, "egret-1", "password-1-0123456789")
    target.export(b, path, BETA, "egret-2", "password-2-0123456789")
    assert [target.targets()[n]["tid"] for n in (a, b)] == [1, 2]
    target.unexport(a)
    target.export(c, path, BETA, "egret-3", "password-3-0123456789")
    assert target.targets()[c]["tid"] == 1
    for n in (b, c):
        target.unexport(n)


def test_unexport_of_what_is_not_there_is_fine(target):
    target.unexport(iqn())
    assert target.targets() == {}


def test_a_failed_export_leaves_nothing(target, tmp_path):
    name = iqn()
    with pytest.raises(DriverError):
        target.export(name, str(tmp_path / "missing.qcow2"), BETA, "egret-m", "password-m-0123456789")
    assert target.targets() == {}
    # and its account went too: the same name exports cleanly afterwards
    real = tmp_path / "present.raw"
    real.write_bytes(b"\0" * 1024 * 1024)
    target.export(name, str(real), BETA, "egret-m", "password-m-0123456789")
    assert target.targets()[name]["accounts"] == ["egret-m"]
    target.unexport(name)


@pytest.mark.parametrize("field,value", [
    ("initiator", "iqn.2026-12.dev.egret:a,initiator-address=ALL"), ("initiator", "iqn.2026-12.dev.egret:a b"),
    ("initiator", ""), ("user", "egret,x"), ("password", "pass=word-0123456"), ("password", "pass\nword-012345"),
    ("name", "iqn.2026-12.dev.egret:x,tid=9"), ("path", "relative/volume.qcow2"), ("path", "/tmp/a,bstype=aio")])
def test_values_tgtadm_would_misread_are_refused(target, volume, field, value):
    _, _, path = volume
    args = {"name": iqn(), "path": path, "initiator": BETA, "user": "egret-v", "password": "password-v-0123456789",
            field: value}
    with pytest.raises(DriverError):
        target.export(args["name"], args["path"], args["initiator"], args["user"], args["password"])
    assert target.targets() == {}


def test_a_restarted_target_holds_nothing_and_exports_again(target, volume):
    _, _, path = volume
    name = iqn()
    target.export(name, path, BETA, "egret-r", "password-r-0123456789")
    assert target.ensure_running() is False   # already running: nothing started, nothing lost
    assert name in target.targets()
    target.stop()
    assert target.targets() == {}
    assert not login(target, name, BETA, "egret-r", "password-r-0123456789")
    assert target.ensure_running() is True
    assert target.targets() == {}
    target.export(name, path, BETA, "egret-r", "password-r-0123456789")
    assert login(target, name, BETA, "egret-r", "password-r-0123456789")
    target.unexport(name)


def test_available_names_a_missing_daemon(tmp_path):
    for missing in (TgtTarget("127.0.0.1:3260", 0, tgtd=str(tmp_path / "tgtd")), FakeTarget(
            unavailable="tgtd is not installed (Debian package tgt)")):
        assert "tgtd is not installed" in missing.available()
        with pytest.raises(DriverError, match="tgtd is not installed"):
            missing.ensure_running()
        assert missing.targets() == {}


# --- the real daemon alone: what a remote QEMU does to the file, and a portal it cannot have ------------------------
def test_a_remote_writer_grows_the_qcow2_file_inside_its_exported_size(tgtd, volume):
    """A qcow2 file grows as it is written and the target fixed its LUN's size at export: the driver extended the
    file first, so a remote QEMU can fill the volume and the image stays consistent."""
    drv, vid, path = volume
    tgtd.ensure_running()
    name = iqn()
    tgtd.export(name, path, BETA, "egret-w", "password-w-0123456789")
    try:
        # far from what the volume held: qcow2 allocates new clusters (and metadata) for it
        for offset in (512 * 1024 * 1024, GiB - 65536):
            proc = qemu_io(tgtd, name, BETA, "egret-w", "password-w-0123456789", f"write -P 0xcd {offset} 64k")
            assert proc.returncode == 0 and "wrote 65536/65536" in proc.stdout, proc.stdout + proc.stderr
    finally:
        tgtd.unexport(name)
    assert drv.read(vid, 512 * 1024 * 1024, 4) == b"\xcd" * 4 and drv.read(vid, 0, 4) == b"\xab" * 4
    checked = subprocess.run(["qemu-img", "check", "-f", "qcow2", path], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert os.stat(path).st_size >= GiB   # extended (sparse) to the fully allocated size before the export


def test_a_portal_tgtd_cannot_have_is_refused_and_no_daemon_stays(tmp_path):
    """tgtd keeps running when its portal is taken and then listens on every address at 3260: the driver kills it
    and says so."""
    if _which("tgtd") is None:
        pytest.skip("tgtd is not installed (Debian package tgt; scripts/setup-debian.sh installs it)")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        control = _control_port()
        target = TgtTarget(f"127.0.0.1:{taken.getsockname()[1]}", control, tmp_path / "tgtd.log")
        try:
            with pytest.raises(DriverError, match="could not listen on 127.0.0.1"):
                target.ensure_running()
            assert not target.answers()
        finally:
            target.stop()
            for name in (f"socket.{control}", f"socket.{control}.lock"):
                (IPC_DIR / name).unlink(missing_ok=True)
