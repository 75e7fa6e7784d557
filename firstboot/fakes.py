"""Fakes of the identity bootstrap, the service supervisor and site membership, same contracts as firstboot.backends."""
from __future__ import annotations

import json

from appliance import realtime, siterole
from appliance.manifest import load_manifest


class FakeIdentity:
    def __init__(self, bootstrapped: bool = False):
        self.admin_password: str | None = "existing" if bootstrapped else None
        self.totp_secret: str | None = None
        self.fail_bootstrap: str | None = None
        self.calls: list[str] = []

    def is_bootstrapped(self, settings) -> bool:
        return self.admin_password is not None

    def bootstrap(self, settings, password):
        self.calls.append("bootstrap")
        if self.fail_bootstrap:
            raise RuntimeError(self.fail_bootstrap)
        if password is not None and self.admin_password is None:
            self.admin_password = password

    def undo_bootstrap(self, settings):
        self.calls.append("undo_bootstrap")
        self.admin_password = None

    def check_password(self, settings, password) -> bool:
        return self.admin_password is not None and password == self.admin_password

    def register_totp(self, settings, password, secret):
        if password != self.admin_password:
            raise RuntimeError("cannot log in as admin to register TOTP")
        self.totp_secret = secret


class FakeServices:
    def __init__(self, units=("identity", "compute")):
        self._units = list(units)
        self.running: list[str] = []
        self.fail_start: dict[str, str] = {}
        self.unhealthy: set[str] = set()
        self.kept_running = False
        self.database_urls: dict[str, str] = {}  # the database_url each unit was started with
        self.health_wait = 0.0                     # the final health check asks once unless a test says otherwise
        self.realtime_applied: list[str] = []      # the realtime.toml text each apply_realtime saw

    def units(self, settings):
        return list(self._units)

    def start(self, settings, name, timeout=90.0):
        self.database_urls[name] = settings.database_url
        if name in self.fail_start:
            raise RuntimeError(self.fail_start[name])
        if name not in self.running:
            self.running.append(name)

    def stop(self, name):
        if name in self.running:
            self.running.remove(name)

    def stop_all(self):
        self.running.clear()

    def keep_running(self):
        self.kept_running = True

    def apply_realtime(self, settings):
        path = settings.config_dir / realtime.CONFIG_FILE
        self.realtime_applied.append(path.read_text() if path.exists() else "")

    def health(self, settings):
        # as health_rows: a site's member runs no API unit of its own
        manifest = load_manifest()
        units = [u for u in self._units if u not in manifest or siterole.runs_here(settings, manifest[u])]
        return [{"unit": u, "service": u, "port": 1000 + i, "healthy": u in self.running and u not in self.unhealthy,
                 "detail": "HTTP 200" if u in self.running and u not in self.unhealthy else "down"}
                for i, u in enumerate(units)]


class FakeMembership:
    """Records what the role step did; `refuse` makes the peer check or the join/enrol fail with that reason."""

    def __init__(self):
        self.refuse_peer: str | None = None
        self.refuse_apply: str | None = None
        self.role: str | None = None
        self.calls: list[tuple] = []
        self.found_result: dict | None = None  # what found() answers (founding.found_site's shape)
        self.held: str | None = None  # holdings_problem's answer: what this box's own cloud would lose

    def check_peer(self, kind, body):
        self.calls.append(("check_peer", kind))
        if self.refuse_peer:
            raise RuntimeError(self.refuse_peer)

    def _do(self, role, *args):
        self.calls.append((role, *args))
        if self.refuse_apply:
            raise RuntimeError(self.refuse_apply)
        self.role = role

    def holdings_problem(self, settings):
        return self.held

    def found(self, settings, site_name):
        self._do("cluster", site_name)
        return self.found_result

    def join(self, settings, token):
        self._do("join", token)
        # as the real join: the site record that makes this box a member (appliance/siterole.py reads it)
        siterole.record_path(settings).parent.mkdir(parents=True, exist_ok=True)
        siterole.record_path(settings).write_text(json.dumps({"role": "member", "site": "lab"}))

    def enrol(self, settings, token):
        self._do("enrol", token)

    def leave(self, settings):
        self.calls.append(("leave",))
        siterole.record_path(settings).unlink(missing_ok=True)
        self.role = None

    def unenrol(self, settings):
        self.calls.append(("unenrol",))
        self.role = None
