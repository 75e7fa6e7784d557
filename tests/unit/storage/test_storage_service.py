"""The process around the APIs: port dispatch, /healthz and /metrics, identity-backed S3 keys, LVM commands."""
from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from services.storage import create_app
from services.storage.drivers import lvm
from services.storage.s3.credentials import IdentityCredentials


def _call(app, port, path, headers=None):
    from werkzeug.test import Client
    client = Client(app)
    return client.get(path, headers=headers or {}, environ_overrides={"SERVER_PORT": str(port)})


def test_one_process_dispatches_by_port(settings, driver, creds):
    app = create_app(settings, driver=driver, credentials=creds)
    image = _call(app, settings.port("image"), "/")
    assert image.status_code == 300 and json.loads(image.data)["versions"][0]["id"] == "v2.9"
    volume = _call(app, settings.port("volume"), "/")
    assert json.loads(volume.data)["versions"][0]["id"] == "v3.0"
    s3 = _call(app, settings.port("s3"), "/")
    assert s3.status_code == 403 and b"<Code>AccessDenied</Code>" in s3.data
    for port in ("image", "volume", "s3"):
        health = _call(app, settings.port(port), "/healthz")
        assert health.status_code == 200 and json.loads(health.data)["status"] == "ok"


def test_metrics_report_volumes_and_bytes(volume_client, image_client, tokens, apps):
    volume_client.post("/v3/p-alice/volumes", json={"volume": {"size": 2}}, headers=tokens["alice"])
    text = volume_client.get("/metrics").data.decode()
    assert 'egret_storage_volumes{status="available"} 1.0' in text
    assert 'egret_storage_bytes{kind="volumes_provisioned"} 2.147483648e+09' in text


class _Resp:
    def __init__(self, status, doc=None):
        self.status_code = status
        self._doc = doc

    def json(self):
        return self._doc


class _IdentityStub:
    """Stands in for ServiceClient: answers GET /v3/credentials/<id> from a dict, counting calls."""

    def __init__(self, creds):
        self.creds = creds
        self.calls = []
        self.enabled = {"u1": True}
        self.roles = {("u1", "p1")}

    def request(self, target, method, path, expected=None, params=None, **kw):
        if path.startswith("/v3/users/"):
            enabled = self.enabled.get(path.rsplit("/", 1)[1])
            return _Resp(404) if enabled is None else _Resp(200, {"user": {"enabled": enabled}})
        if path == "/v3/role_assignments":
            assert "effective" in params
            held = (params["user.id"], params["scope.project.id"]) in self.roles
            return _Resp(200, {"role_assignments": [{"role": {"id": "r"}}] if held else []})
        self.calls.append((target, method, path))
        doc = self.creds.get(path.rsplit("/", 1)[1])
        return _Resp(404) if doc is None else _Resp(200, {"credential": doc})


def test_identity_credentials_lookup_and_cache(settings, monkeypatch):
    access = "AK123"
    cred_id = hashlib.sha256(access.encode()).hexdigest()
    stub = _IdentityStub({cred_id: {"id": cred_id, "type": "ec2", "project_id": "p1", "user_id": "u1",
                                    "blob": json.dumps({"access": access, "secret": "s3cr3t"})}})
    store = IdentityCredentials(settings, client=stub)
    cred = store.lookup(access)
    assert (cred.secret, cred.project_id, cred.user_id) == ("s3cr3t", "p1", "u1")
    assert stub.calls == [("identity", "GET", f"/v3/credentials/{cred_id}")]
    store.lookup(access)
    assert len(stub.calls) == 1  # cached
    assert store.lookup("unknown") is None
    # after the TTL a deleted credential stops working
    import time
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + IdentityCredentials.TTL + 1)
    stub.creds.clear()
    assert store.lookup(access) is None
    # a credential whose blob names another access key is refused
    stub.creds[cred_id] = {"type": "ec2", "project_id": "p1", "blob": json.dumps({"access": "OTHER", "secret": "x"})}
    monkeypatch.setattr(time, "monotonic", lambda: now + 3 * IdentityCredentials.TTL)
    assert store.lookup(access) is None


def test_identity_credentials_need_an_enabled_user_with_a_role(settings):
    access = "AK9"
    cred_id = hashlib.sha256(access.encode()).hexdigest()
    doc = {"id": cred_id, "type": "ec2", "project_id": "p1", "user_id": "u1",
           "blob": json.dumps({"access": access, "secret": "s"})}
    stub = _IdentityStub({cred_id: doc})
    assert IdentityCredentials(settings, client=stub).lookup(access).project_id == "p1"
    stub.roles.clear()                      # the role on the project was removed
    assert IdentityCredentials(settings, client=stub).lookup(access) is None
    stub.roles.add(("u1", "p1"))
    stub.enabled["u1"] = False              # the user was disabled
    assert IdentityCredentials(settings, client=stub).lookup(access) is None
    del stub.enabled["u1"]                  # the user was deleted
    assert IdentityCredentials(settings, client=stub).lookup(access) is None


def test_lvm_driver_commands(monkeypatch):
    """Without device-mapper the LVM driver runs here only against a recorder; its contract runs in the image."""
    calls = []

    def fake_run(cmd, capture_output=True, text=True, timeout=None):
        calls.append(cmd)
        if cmd[0] == "lvs":
            if "lv_name" in cmd:
                return subprocess.CompletedProcess(cmd, 0, cmd[-1].split("/")[1] + "\n", "")
            return subprocess.CompletedProcess(cmd, 0, f"{1024 ** 3}\n", "")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(lvm.subprocess, "run", fake_run)
    drv = lvm.LvmThinDriver("vg0", "pool0")
    drv.create_volume("v1", 1)
    drv.create_snapshot("s1", "v1")
    drv.create_from_snapshot("v2", 2, "s1")
    drv.extend_volume("v1", 3)
    drv.delete_snapshot("s1")
    info = drv.connection_info("v1")
    assert info == {"driver_volume_type": "block", "data": {"path": "/dev/vg0/volume-v1", "format": "raw",
                                                            "name": "volume-v1"}}
    made = [c for c in calls if c[0] != "lvs"]
    assert made[0][:6] == ["lvcreate", "-q", "-T", "vg0/pool0", "-V", "1g"] and "volume-v1" in made[0]
    # LVM refuses LV names starting with "snapshot"; thin snapshots are created active (-kn: no activation skip)
    assert ["lvcreate", "-q", "-s", "-kn", "-n", "_snapshot-s1", "vg0/volume-v1", "-y"] in made
    assert ["lvcreate", "-q", "-s", "-kn", "-n", "volume-v2", "vg0/_snapshot-s1", "-y"] in made
    assert ["lvextend", "-q", "-L", "2g", "vg0/volume-v2"] in made
    assert ["lvextend", "-q", "-L", "3g", "vg0/volume-v1"] in made
    assert ["lvremove", "-q", "-f", "vg0/_snapshot-s1"] in made
    assert not any(c[0] == "lvchange" for c in made)
    with pytest.raises(lvm.DriverError):
        drv.extend_volume("v1", 0)
