"""The Cinder attachments API over the file backend and a real tgtd, as the settings configure it: a remote QEMU
(qemu-io through libiscsi) logs in with what connection_info says, reads and writes the volume; the detach takes
the target away; a restart after tgtd died exports the attachment again with the same credentials."""
from __future__ import annotations

import random
import subprocess

import pytest

from appliance.testing.plugin import free_port, make_settings
from services.storage import create_apps
from services.storage.drivers.file import FileDriver
from services.storage.drivers.tgt import IPC_DIR, _which
from services.storage.s3.credentials import FakeCredentials
from tests.unit.storage.storage_testlib import V, assert_cinder_error, create

pytestmark = pytest.mark.integration
MV = {"OpenStack-API-Version": "volume 3.44"}
BETA = "iqn.2026-12.dev.egret:beta"


@pytest.fixture
def settings(tmp_path):
    """Storage with its own tgtd: a loopback portal on a free port and a control port of its own."""
    if _which("tgtd") is None:
        pytest.skip("tgtd is not installed (Debian package tgt; scripts/setup-debian.sh installs it)")
    while True:
        control = random.randint(30000, 32767)   # tgtd's control ports end at 32767
        if subprocess.run([_which("tgtadm"), "-C", str(control), "--mode", "sys", "--op", "show"],
                          capture_output=True).returncode != 0:
            break
    s = make_settings(tmp_path / "state", service={"storage": {
        "synchronous": True, "iscsi_portal": f"127.0.0.1:{free_port()}", "iscsi_control_port": control}})
    yield s
    for name in (f"socket.{control}", f"socket.{control}.lock"):
        (IPC_DIR / name).unlink(missing_ok=True)


@pytest.fixture
def cloud(settings):
    """start(): the storage apps over the real file backend and the settings' tgtd, as a (re)start makes them."""
    started = []

    def start():
        drv = FileDriver(settings.state_dir / "storage" / "volumes", "qcow2")
        apps = create_apps(settings, driver=drv, credentials=FakeCredentials())
        started.append(apps["image"].extensions["egret.manager"])
        return apps["volume"].test_client(), drv, started[-1]
    yield start
    for storage in started:
        storage.exports.target.stop()


@pytest.fixture
def service(mint_token):
    return {"X-Auth-Token": mint_token(user_id="nova", project_id="service", roles=["service", "member", "reader"],
                                       is_service=True)}


def remote(info, command, initiator=BETA, password=None):
    """qemu-io on another node: libiscsi with the connection_info compute got."""
    d = info["data"]
    opts = (f"driver={d['format']},file.driver=iscsi,file.transport=tcp,file.portal={d['target_portal']},"
            f"file.target={d['target_iqn']},file.lun={d['target_lun']},file.initiator-name={initiator},"
            f"file.user={d['auth_username']},file.password-secret=s0")
    return subprocess.run(["qemu-io", "--image-opts", opts, "--object",
                           f"secret,id=s0,data={password or d['auth_password']}", "-c", command],
                          capture_output=True, text=True, timeout=60)


def attach(client, h, volume_id):
    r = client.post(f"{V}/attachments", json={"attachment": {
        "volume_uuid": volume_id, "instance_uuid": "5b1e0c9e-0000-4000-8000-000000000002",
        "connector": {"host": "beta", "initiator": BETA}}}, headers={**h, **MV})
    assert r.status_code == 200, r.json
    return r.json["attachment"]


def test_a_remote_qemu_uses_the_volume_through_the_target(cloud, tokens, service, settings):
    client, drv, storage = cloud()
    vol = create(client, tokens["alice"])
    drv.write(vol["id"], 0, b"\xab" * 65536)
    att = attach(client, service, vol["id"])
    info = att["connection_info"]
    assert info["driver_volume_type"] == "iscsi"
    assert info["data"]["target_portal"] == settings.section("storage")["iscsi_portal"]
    assert info["data"]["format"] == "qcow2"
    read = remote(info, "read -P 0xab 0 64k")
    assert read.returncode == 0 and "read 65536/65536 bytes" in read.stdout, read.stdout + read.stderr
    wrote = remote(info, "write -P 0xcd 700M 64k")
    assert wrote.returncode == 0 and "wrote 65536/65536 bytes" in wrote.stdout, wrote.stdout + wrote.stderr
    assert "Authentication failure" in remote(info, "read 0 512", password="wrong-password-01234").stderr
    assert "Target not found" in remote(info, "read 0 512", initiator="iqn.2026-12.dev.egret:gamma").stderr
    # pools say this node exports
    pools = client.get(f"{V}/scheduler-stats/get_pools?detail=true", headers=tokens["admin"]).json["pools"]
    assert pools[0]["capabilities"]["storage_protocol"] == "iSCSI"
    # in use: not extended under the target
    client.post(f"{V}/attachments/{att['id']}/action", json={"os-complete": None}, headers={**service, **MV})
    r = client.post(f"{V}/volumes/{vol['id']}/action", json={"os-extend": {"new_size": 2}}, headers=tokens["alice"])
    assert_cinder_error(r, 400, "detach it from servers on other nodes first")
    assert client.delete(f"{V}/attachments/{att['id']}", headers={**service, **MV}).status_code == 200
    gone = remote(info, "read 0 512")
    assert gone.returncode != 0 and "read 512/512" not in gone.stdout, gone.stdout
    assert storage.exports.target.targets() == {}
    # what the remote guest wrote is in the volume's file, and the image is consistent
    assert drv.read(vol["id"], 700 * 1024 * 1024, 4) == b"\xcd" * 4
    path = drv.path(vol["id"])
    checked = subprocess.run(["qemu-img", "check", "-f", "qcow2", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_restart_after_tgtd_died_exports_again_with_the_same_credentials(cloud, tokens, service):
    client, drv, storage = cloud()
    vol = create(client, tokens["alice"])
    drv.write(vol["id"], 0, b"\xab" * 65536)
    info = attach(client, service, vol["id"])["connection_info"]
    assert remote(info, "read -P 0xab 0 64k").returncode == 0
    storage.exports.target.stop()            # the service and its tgtd went down together
    down = remote(info, "read 0 512")
    assert down.returncode != 0 and "read 512/512" not in down.stdout, down.stdout
    client, drv, storage = cloud()            # the service starts again: reconcile
    read = remote(info, "read -P 0xab 0 64k")
    assert read.returncode == 0 and "read 65536/65536 bytes" in read.stdout, read.stdout + read.stderr
    assert list(storage.exports.target.targets()) == [info["data"]["target_iqn"]]
