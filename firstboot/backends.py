"""Seams to the rest of Egret: identity bootstrap and the service supervisor (real and fake)."""
from __future__ import annotations

import atexit
import threading

import requests

from appliance.config import Settings
from appliance.manifest import load_manifest, start_order
from appliance.supervisor import Supervisor, health_url, probe


def _auth_body(password: str, methods=("password",), totp_code: str | None = None) -> dict:
    identity = {"methods": list(methods),
                "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": password}}}
    if totp_code:
        identity["totp"] = {"user": {"name": "admin", "domain": {"id": "default"}, "passcode": totp_code}}
    return {"auth": {"identity": identity,
                     "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}


class RealIdentity:
    """services.identity.bootstrap for the first admin; the identity API for logins and TOTP."""

    def is_bootstrapped(self, settings: Settings) -> bool:
        from services.identity import bootstrap as ib
        return ib.is_bootstrapped(settings)

    def bootstrap(self, settings: Settings, password: str | None) -> None:
        from services.identity import bootstrap as ib
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        ib.bootstrap(settings, password)

    def undo_bootstrap(self, settings: Settings) -> None:
        """Remove the identity database and service-user secrets this run created (keys stay: tokens use them)."""
        url = settings.database_for("identity")
        if url.startswith("sqlite:///"):
            from pathlib import Path
            db = Path(url[len("sqlite:///"):])
            for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                p.unlink(missing_ok=True)
        secrets_dir = settings.state_dir / "secrets"
        if secrets_dir.is_dir():
            for p in secrets_dir.glob("*-service-user.json"):
                p.unlink()

    def check_password(self, settings: Settings, password: str) -> bool:
        try:
            r = requests.post(settings.url("identity", "/v3/auth/tokens"), json=_auth_body(password), timeout=10)
        except requests.RequestException:
            return False
        return r.status_code == 201

    def register_totp(self, settings: Settings, password: str, secret_b32: str) -> None:
        base = settings.url("identity", "/v3")
        r = requests.post(base + "/auth/tokens", json=_auth_body(password), timeout=10)
        if r.status_code != 201:
            raise RuntimeError(f"cannot log in as admin to register TOTP (HTTP {r.status_code})")
        token = r.headers["X-Subject-Token"]
        user_id = r.json()["token"]["user"]["id"]
        r = requests.post(base + "/credentials", headers={"X-Auth-Token": token}, timeout=10,
                          json={"credential": {"type": "totp", "user_id": user_id, "blob": secret_b32}})
        if r.status_code not in (200, 201):
            raise RuntimeError(f"identity refused the TOTP credential (HTTP {r.status_code}): {r.text[:200]}")


class SupervisedServices:
    """Starts the other manifest units as children of the wizard, one at a time, and keeps them running."""

    def __init__(self):
        self.sup: Supervisor | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @staticmethod
    def units(settings: Settings) -> list[str]:
        return [u.name for u in start_order(load_manifest(), settings.enabled_services) if u.service != "firstboot"]

    def start(self, settings: Settings, name: str, timeout: float = 90.0) -> None:
        with self._lock:
            if self.sup is None:
                units = [u for u in start_order(load_manifest(), settings.enabled_services)
                         if u.service != "firstboot"]
                self.sup = Supervisor(settings, units=units)
                atexit.register(self.stop_all)
            child = self.sup.children[name]
            if child.process is not None and child.process.poll() is None:
                return
            self.sup._spawn(child)
        self.sup.wait_healthy(child, timeout)

    def stop(self, name: str) -> None:
        if self.sup and name in self.sup.children:
            child = self.sup.children[name]
            if child.process and child.process.poll() is None:
                import os
                import signal
                os.killpg(child.process.pid, signal.SIGTERM)
                child.process.wait(15)
            child.process = None

    def keep_running(self) -> None:
        if self.sup and self._thread is None:
            self._thread = threading.Thread(target=self.sup.run_forever, daemon=True, name="egret-supervisor")
            self._thread.start()

    def stop_all(self) -> None:
        if self.sup:
            self.sup.stop()

    def health(self, settings: Settings) -> list[dict]:
        rows = []
        for unit in start_order(load_manifest(), settings.enabled_services):
            ok, detail = probe(health_url(settings, unit), timeout=1.5)
            rows.append({"unit": unit.name, "service": unit.service, "port": settings.port(unit.ports[0]),
                         "healthy": ok, "detail": detail})
        return rows
