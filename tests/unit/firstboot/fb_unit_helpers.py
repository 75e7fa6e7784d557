"""Helpers for the wizard unit tests: an app on fakes (system layer, identity, supervisor) and a clock."""
from __future__ import annotations

import json
import time

from appliance.testing.plugin import make_settings
from firstboot import create_app
from firstboot.fakes import FakeIdentity, FakeMembership, FakeServices
from firstboot.system.fake import FakeSystem

PASSWORD = "Correct-Horse-9"


class Clock:
    def __init__(self):
        self.t = time.time()

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


class Box:
    """One wizard under test: its app, client, fakes and helpers to walk the steps."""

    def __init__(self, tmp_path, bootstrapped=False, services=None, ports=None, **section):
        extra = {"ports": ports} if ports else {}
        self.settings = make_settings(tmp_path / "state", service={"firstboot": {"confirm_timeout": 60, "network_apply_delay": 0, **section}}, **extra)
        self.system = FakeSystem(tmp_path / "root")
        self.identity = FakeIdentity(bootstrapped=bootstrapped)
        self.services = services or FakeServices()
        self.membership = FakeMembership()
        self.clock = Clock()
        self.app = create_app(self.settings, system=self.system, identity=self.identity, services=self.services,
                              clock=self.clock, membership=self.membership)
        self.wizard = self.app.extensions["egret.firstboot"]
        self.client = self.app.test_client()
        self.code = self.wizard.code.issue()

    def unlock(self):
        r = self.client.post("/api/unlock", json={"code": self.code})
        assert r.status_code == 200, r.json
        return self

    def post(self, step, answers, **kw):
        return self.client.post(f"/api/steps/{step}", json=answers, **kw)

    def state_file(self) -> dict:
        return json.loads(self.wizard.state.path.read_text()) if self.wizard.state.path.exists() else {}

    def answers(self):
        return self.state_file().get("answers", {})

    def network_static(self, address="192.168.1.30/24", gateway="192.168.1.1"):
        r = self.post("network", {"interface": "eth0", "mode": "static", "address": address, "gateway": gateway,
                                  "dns": ["192.168.1.1"]})
        assert r.status_code == 200, r.json
        host = address.split("/")[0]
        r = self.client.post("/api/network/confirm", json={"token": r.json["trial"]["token"]},
                             base_url=f"http://{host}")
        assert r.status_code == 200, r.json

    def complete_steps(self, role=None):
        assert self.post("admin", {"password": PASSWORD, "password_confirm": PASSWORD}).status_code == 200
        r = self.post("box", {"hostname": "edge-01", "timezone": "Europe/Paris", "ntp_servers": ["pool.ntp.org"]})
        assert r.status_code == 200, r.json
        self.network_static()
        assert self.post("storage", {"assignments": {"volumes": "sdb"}}).status_code == 200
        r = self.post("role", role or {"role": "standalone"})
        assert r.status_code == 200, r.json
        return self

    def apply_and_wait(self, body=None):
        r = self.post("apply", body or {})
        assert r.status_code == 200, r.json
        self.wizard.runner._thread.join(10)
        return self.client.get("/api/apply").json["apply"]


