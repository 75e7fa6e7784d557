"""Seams to the rest of Egret: identity bootstrap and the services (dev supervisor or the box's systemd; fakes)."""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from appliance import config, federation_site, pki, siterole, stateplan
from appliance.cluster import founding, holdings, membership, siteclouds
from appliance.cluster.join import join, reach_site
from appliance.config import Settings
from appliance.image.units import SETUP_GATE, unit_name
from appliance.manifest import load_manifest, start_order
from appliance.pki import verify_arg
from appliance.processes import Supervisor
from appliance.unitstatus import health_url, probe


def _auth_body(password: str, methods=("password",), totp_code: str | None = None) -> dict:
    identity = {"methods": list(methods),
                "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": password}}}
    if totp_code:
        identity["totp"] = {"user": {"name": "admin", "domain": {"id": "default"}, "passcode": totp_code}}
    return {"auth": {"identity": identity,
                     "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}


def egret_bootstrap(settings: Settings, *flags: str, password: str | None = None,
                    timeout: float = 300.0) -> subprocess.CompletedProcess:
    """`egret bootstrap ...` as an operator runs it: identity's own command, in a child with these settings."""
    env = {**os.environ, **config.to_env(settings)}
    env.pop("EGRET_ADMIN_PASSWORD", None)
    if password:
        env["EGRET_ADMIN_PASSWORD"] = password  # the command's documented way in; never on the command line
    return subprocess.run([sys.executable, "-m", "appliance.cli", "bootstrap", *flags], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def _checked(result: subprocess.CompletedProcess) -> None:
    if result.returncode != 0:
        raise RuntimeError("egret bootstrap failed: " + (result.stderr or result.stdout).strip()[-500:])


class RealIdentity:
    """`egret bootstrap` for the first admin (run as a command, as an operator would); the identity API for
    logins and TOTP."""

    # The wizard asks "is identity bootstrapped?" on every page; each answer is a command run. A yes holds until
    # this wizard undoes it; a no is asked again after NO_FOR seconds (identity bootstrapped another way, dev).
    NO_FOR = 30.0

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._known: dict[str, tuple[bool, float]] = {}  # state dir -> (answer, when)

    def is_bootstrapped(self, settings: Settings) -> bool:
        key = str(settings.state_dir)
        known = self._known.get(key)
        if known and (known[0] or self.clock() - known[1] < self.NO_FOR):
            return known[0]
        result = egret_bootstrap(settings, "--check")
        if result.returncode not in (0, 1):
            _checked(result)
        self._known[key] = (result.returncode == 0, self.clock())
        return result.returncode == 0

    def bootstrap(self, settings: Settings, password: str | None) -> None:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self._known.pop(str(settings.state_dir), None)
        # the wizard writes clouds.yaml itself once apply has finished (with TOTP's plugin when enrolled)
        _checked(egret_bootstrap(settings, "--no-clouds-yaml", password=password))

    def undo_bootstrap(self, settings: Settings) -> None:
        """Forget what this run's bootstrap created (identity's database, service-user secrets; keys stay)."""
        self._known.pop(str(settings.state_dir), None)
        _checked(egret_bootstrap(settings, "--undo"))

    def check_password(self, settings: Settings, password: str) -> bool:
        """The admin's password, as the box's identity checks it; on a site's member, which runs no identity of its
        own, the site's (the founder's admin: one identity for the site)."""
        url, verify = settings.url("identity", "/v3/auth/tokens"), verify_arg(settings)
        api = siteclouds.member_api(membership.site(settings))
        if api:
            ca = siteclouds.api_ca_file(settings)
            url, verify = api["identity_url"].rstrip("/") + "/auth/tokens", str(ca) if ca.exists() else True
        try:
            r = requests.post(url, json=_auth_body(password), timeout=10, verify=verify)
        except requests.RequestException:
            return False
        return r.status_code == 201

    def register_totp(self, settings: Settings, password: str, secret_b32: str) -> None:
        base = settings.url("identity", "/v3")
        r = requests.post(base + "/auth/tokens", json=_auth_body(password), timeout=10, verify=verify_arg(settings))
        if r.status_code != 201:
            raise RuntimeError(f"cannot log in as admin to register TOTP (HTTP {r.status_code})")
        token = r.headers["X-Subject-Token"]
        user_id = r.json()["token"]["user"]["id"]
        r = requests.post(base + "/credentials", headers={"X-Auth-Token": token}, timeout=10, verify=verify_arg(settings),
                          json={"credential": {"type": "totp", "user_id": user_id, "blob": secret_b32}})
        if r.status_code not in (200, 201):
            raise RuntimeError(f"identity refused the TOTP credential (HTTP {r.status_code}): {r.text[:200]}")


class RealMembership:
    """The box's place in a site or a hub: appliance.cluster (site CA, join) and appliance.federation_site."""

    @staticmethod
    def check_peer(kind: str, body: dict) -> None:
        """The peer in the token answers over TLS with the CA the token pins (raises with the reason)."""
        if kind == "enrol":
            pki.fetch_pinned_ca(body["hub_url"], body["ca_fingerprint"], path="/v1/ca")
        else:
            reach_site(body)

    @staticmethod
    def holdings_problem(settings: Settings) -> str | None:
        """Why joining would lose what this box's own cloud holds (None: it holds nothing)."""
        held = holdings.count(settings)
        return holdings.refusal(held) if held else None

    @staticmethod
    def found(settings: Settings, site_name: str) -> dict:
        """Found the site; its state goes into this machine's PostgreSQL when it has one (founding.found_site)."""
        return founding.found_site(settings, site_name)

    @staticmethod
    def join(settings: Settings, token: str) -> None:
        join(settings, token)

    @staticmethod
    def leave(settings: Settings) -> None:
        membership.leave(settings)

    @staticmethod
    def enrol(settings: Settings, token: str) -> None:
        federation_site.enrol(settings, token, site_name=membership.node_name(settings))
        membership.adopt(settings)  # the cluster unit, which dials home, reads the site key

    @staticmethod
    def unenrol(settings: Settings) -> None:
        federation_site.forget(settings)


class SupervisedServices:
    """Starts the other manifest units as children of the wizard, one at a time, and keeps them running."""

    health_wait = 120.0     # how long setup's final health check re-asks a unit that does not answer

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
        return health_rows(settings)

    @staticmethod
    def apply_realtime(settings: Settings) -> None:
        """Nothing: IRQ affinity, the governor and boot entries belong to an appliance, not to the machine
        `egret up` runs on (the profile stays in its settings file)."""


def health_rows(settings: Settings) -> list[dict]:
    rows = []
    # a site's member runs no API unit of its own (appliance/siterole.py)
    for unit in siterole.own_units(settings, start_order(load_manifest(), settings.enabled_services)):
        ok, detail = probe(health_url(settings, unit), timeout=1.5)
        rows.append({"unit": unit.name, "service": unit.service, "port": settings.port(unit.ports[0]),
                     "healthy": ok, "detail": detail})
    return rows


def share_state_dir(state_dir: Path, group: str = "egret") -> int:
    """What egret-state.service does at boot (appliance/stateplan.py), for the files apply just created as root
    (identity's database, keys, service-user secrets, the configuration): group egret, the modes of the plan,
    nothing for others. The wizard has no CAP_CHOWN, so each unit's owner is given by egret-state.service, which
    SystemdServices.start reloads next. Returns how many paths changed."""
    return stateplan.apply(state_dir, stateplan.plan(load_manifest()), group)


REALTIME_UNIT_NAME = "egret-realtime.service"       # its text: images/files.py REALTIME_UNIT


def run_systemctl(args: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=timeout)


class SystemdServices:
    """On the appliance the services are systemd units (generated from the manifest, gated until setup is done):
    apply opens the setup gate for this boot, `systemctl start`s each unit and waits for its /healthz. The units
    are systemd's, not the wizard's: they outlive it, restart on failure and start at every boot once set up."""

    MAX_RESTARTS = 3
    health_wait = SupervisedServices.health_wait

    def __init__(self, systemctl=run_systemctl, gate: Path | None = None, poll: float = 1.0,
                 clock=time.monotonic, sleep=time.sleep):
        self.systemctl, self.gate = systemctl, Path(gate or SETUP_GATE)
        self.poll, self.clock, self.sleep = poll, clock, sleep

    @staticmethod
    def units(settings: Settings) -> list[str]:
        return SupervisedServices.units(settings)

    def _show(self, unit: str) -> dict:
        out = self.systemctl(["show", "-p", "ActiveState,SubState,Result,NRestarts,ConditionResult", unit])
        return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)

    def apply_realtime(self, settings: Settings, timeout: float = 120.0) -> None:
        """egret-realtime.service (root, oneshot) puts the profile in place: IRQs and governor now, the kernel and
        its arguments into the boot entries. The wizard's sandbox can do neither itself."""
        r = self.systemctl(["restart", REALTIME_UNIT_NAME], timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"systemctl restart {REALTIME_UNIT_NAME} failed: {(r.stderr or r.stdout).strip()[:300]}; "
                               f"see journalctl -u {REALTIME_UNIT_NAME}")

    def start(self, settings: Settings, name: str, timeout: float = 300.0) -> None:
        unit = unit_name(name)
        # the gated units' second triggering condition: setup-done does not exist until apply has finished
        self.gate.mkdir(parents=True, exist_ok=True)
        share_state_dir(settings.state_dir)
        # the owners (each unit's database and credentials) need root with CAP_CHOWN: egret-state.service's
        # ExecReload applies the plan. Not a restart, which would restart every unit that Requires= it
        r = self.systemctl(["reload", "egret-state.service"], timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"systemctl reload egret-state.service failed: {(r.stderr or r.stdout).strip()[:300]}")
        # blocking: the job is done (unit started, or skipped by its condition) when systemctl returns
        r = self.systemctl(["start", unit], timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"systemctl start {unit} failed: {(r.stderr or r.stdout).strip()[:300]}")
        url = health_url(settings, load_manifest()[name])
        deadline = self.clock() + timeout
        while True:
            ok, detail = probe(url, timeout=2.0)
            if ok:
                return
            state = self._show(unit)
            if state.get("ConditionResult") == "no":
                raise RuntimeError(f"{unit} was not started: its setup gate ({self.gate}) is closed")
            restarts = int(state.get("NRestarts") or 0) if (state.get("NRestarts") or "0").isdigit() else 0
            if state.get("ActiveState") == "failed" or restarts >= self.MAX_RESTARTS:
                raise RuntimeError(f"{unit} failed ({state.get('ActiveState')}/{state.get('SubState')}, "
                                   f"{restarts} restarts); see journalctl -u {unit}")
            if self.clock() > deadline:
                raise RuntimeError(f"{unit} not healthy after {timeout:.0f}s ({detail}); see journalctl -u {unit}")
            self.sleep(self.poll)

    def stop(self, name: str) -> None:
        r = self.systemctl(["stop", unit_name(name)])
        if r.returncode != 0:
            raise RuntimeError(f"systemctl stop {unit_name(name)} failed: {(r.stderr or r.stdout).strip()[:300]}")

    def keep_running(self) -> None:
        """Nothing to do: systemd restarts the units, and starts them at boot now that setup-done exists."""

    def stop_all(self) -> None:
        """Nothing to stop: the units belong to systemd and outlive the wizard or `egret firstboot` (a failed
        apply has already stopped what it started, in its rollback)."""

    def health(self, settings: Settings) -> list[dict]:
        return health_rows(settings)


def systemd_manages_egret(settings: Settings, systemctl=run_systemctl,
                          booted: Path = Path("/run/systemd/system")) -> bool:
    """True on a box booted with systemd that has Egret's units installed (the image, NixOS): sd_booted() and
    the first unit the wizard would start is loaded. A dev machine (no systemd, or no Egret units) gives False."""
    if not booted.is_dir() or shutil.which("systemctl") is None:
        return False
    names = SupervisedServices.units(settings)
    if not names:
        return False
    try:
        out = systemctl(["show", "-p", "LoadState", "--value", unit_name(names[0])])
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == "loaded"


def make_services(settings: Settings):
    """The services backend: [service.firstboot] services = "systemd" | "supervisor" | "auto" (default: detect)."""
    choice = str(settings.section("firstboot").get("services", "auto"))
    if choice not in ("auto", "systemd", "supervisor"):
        raise ValueError(f"[service.firstboot] services = {choice!r}: use auto, systemd or supervisor")
    if choice == "systemd" or (choice == "auto" and systemd_manages_egret(settings)):
        return SystemdServices()
    return SupervisedServices()
