"""The attach contract compute relies on, over real HTTP: reserve, connect, complete, detach on the file backend."""
from __future__ import annotations

import json
import subprocess
import time

import pytest
import requests

pytestmark = pytest.mark.e2e
MV = {"OpenStack-API-Version": "volume 3.44"}


@pytest.fixture(scope="module")
def session(cloud):
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": cloud.password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    r = requests.post(cloud.url("identity", "/v3/auth/tokens"), json=auth, timeout=30)
    s = requests.Session()
    s.headers.update({"X-Auth-Token": r.headers["X-Subject-Token"], **MV})
    return s, cloud.url("volume", f"/v3/{r.json()['token']['project']['id']}")


def wait_status(s, base, vid, want, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = s.get(f"{base}/volumes/{vid}", timeout=10).json()["volume"]["status"]
        if status == want:
            return
        time.sleep(0.2)
    raise AssertionError(f"volume {vid} never became {want} (last: {status})")


def test_attach_detach_through_attachments_api(session):
    s, base = session
    vol = s.post(f"{base}/volumes", json={"volume": {"size": 1, "name": "attach-me"}}, timeout=30).json()["volume"]
    wait_status(s, base, vol["id"], "available")
    att = s.post(f"{base}/attachments", timeout=30, json={"attachment": {
        "volume_uuid": vol["id"], "instance_uuid": "0f4c5a2e-0000-4000-8000-000000000001"}}).json()["attachment"]
    assert att["status"] == "reserved"
    wait_status(s, base, vol["id"], "reserved")
    att = s.put(f"{base}/attachments/{att['id']}", timeout=30, json={"attachment": {
        # compute on the volume's own node: no initiator name, the file itself (iSCSI: the integration tests)
        "connector": {"host": "node-1", "initiator": None}}}).json()["attachment"]
    info = att["connection_info"]
    assert info["driver_volume_type"] == "file" and info["data"]["format"] == "qcow2"
    got = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", info["data"]["path"]], check=True,
                                    capture_output=True, text=True).stdout)
    assert got["format"] == "qcow2" and got["virtual-size"] == 1024 ** 3
    assert s.post(f"{base}/attachments/{att['id']}/action", json={"os-complete": None},
                  timeout=30).status_code == 204
    shown = s.get(f"{base}/volumes/{vol['id']}", timeout=10).json()["volume"]
    assert shown["status"] == "in-use" and shown["attachments"][0]["attachment_id"] == att["id"]
    assert s.delete(f"{base}/volumes/{vol['id']}", timeout=10).status_code == 400
    assert s.delete(f"{base}/attachments/{att['id']}", timeout=10).status_code == 200
    wait_status(s, base, vol["id"], "available")
    assert s.delete(f"{base}/volumes/{vol['id']}", timeout=10).status_code == 202
