"""Units as gunicorn child processes: a unit's command line, and a Supervisor that starts, watches and restarts them."""
from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import gunicorn

from appliance import config, pki, siterole
from appliance.manifest import Unit, load_manifest, start_order
from appliance.unitstatus import RECORD, health_url, probe

log = logging.getLogger("egret.supervisor")


def gunicorn_command(settings: config.Settings, unit: Unit) -> list[str]:
    # appliance.gworker: gthread with socket idle timeouts, gunicorn's 4xx in the API's format, PR_SET_PDEATHSIG
    cmd = [sys.executable, "-m", "gunicorn", "--name", f"egret-{unit.name}", "--worker-class",
           "appliance.gworker.EgretWorker", "--workers", str(settings.workers), "--threads", str(settings.threads),
           "--graceful-timeout", "10", "--timeout", "600", "--log-level", settings.log_level.lower(),
           # clients poll (`--wait` every few seconds) on pooled connections: gunicorn's 2 s default closed
           # them just as a request went out ("Remote end closed connection"); 75 s as nginx and Apache
           "--keep-alive", "75"]
    for port in unit.ports:
        cmd += ["--bind", f"{settings.bind_host}:{settings.port(port)}"]
    if unit.extra.get("tls"):
        files = pki.tls_files(settings, unit.state_dir)
        # --cert-reqs 1 (optional): joining/enrolling peers have no certificate yet; views that need one check it
        cmd += ["--certfile", str(files["cert"]), "--keyfile", str(files["key"]), "--ca-certs", str(files["ca"]),
                "--cert-reqs", "1"]
    else:
        cmd += pki.unit_tls_args(settings, unit)  # [tls] enabled: every API over HTTPS with the box's certificate
    if _gunicorn_version() >= (27,):
        # gunicorn 27 opens a control socket at one fixed path in $HOME, which every unit would share
        cmd.append("--no-control-socket")
    if settings.workers > 1:
        cmd.append("--preload")  # migrations run once, in the master, before workers fork
    cmd.append(unit.app)
    return cmd


def prepare(settings: config.Settings, unit: Unit) -> None:
    """A unit's pre-start step, its app module's `prepare(settings)`: TLS units write the certificate files
    gunicorn insists on before it binds (`egret serve` runs it as the unit's user, `egret up` in the supervisor)."""
    if not (unit.extra.get("tls") or settings.tls_enabled):
        return
    module = importlib.import_module(unit.app.split(":")[0])
    if hasattr(module, "prepare"):
        module.prepare(settings)


def _gunicorn_version() -> tuple:
    return tuple(gunicorn.version_info)


@dataclass
class Child:
    unit: Unit
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0
    healthy: bool = False
    log_path: Path | None = None
    history: list = field(default_factory=list)


class Supervisor:
    """Start units in manifest order; watch them; restart with backoff; record state for `egret status`."""

    MAX_BACKOFF = 30.0

    def __init__(self, settings: config.Settings, units: list[Unit] | None = None):
        self.settings = settings
        # a site's member leaves the API units to its founder (they stay off until it leaves the site)
        self.units = units if units is not None else siterole.own_units(
            settings, start_order(load_manifest(), settings.enabled_services))
        self.children = {u.name: Child(u) for u in self.units}
        self.run_dir = settings.state_dir / "run"
        self.log_dir = settings.state_dir / "logs"
        self._stopping = threading.Event()
        self.env = {**os.environ, **config.to_env(settings)}

    def _spawn(self, child: Child) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        child.log_path = self.log_dir / f"{child.unit.name}.log"
        prepare(self.settings, child.unit)
        logfile = open(child.log_path, "ab")
        child.process = subprocess.Popen(
            gunicorn_command(self.settings, child.unit), env=self.env, stdout=logfile, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        logfile.close()
        child.started_at = time.time()
        child.healthy = False
        log.info("started %s (pid %s)", child.unit.name, child.process.pid)
        self._write_state()

    def start(self, wait_healthy: float = 60.0) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for child in self.children.values():
            self._spawn(child)
            # later units may call earlier ones at start, so each must be healthy first
            self.wait_healthy(child, wait_healthy)

    def wait_healthy(self, child: Child, timeout: float) -> None:
        deadline = time.time() + timeout
        url = health_url(self.settings, child.unit)
        while time.time() < deadline:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.unit.name} exited with {child.process.returncode}; "
                                   f"see {child.log_path}:\n{_tail(child.log_path)}")
            ok, _ = probe(url, timeout=1.0)
            if ok:
                child.healthy = True
                self._write_state()
                return
            time.sleep(0.1)
        raise RuntimeError(f"{child.unit.name} not healthy after {timeout:.0f}s; see {child.log_path}")

    def poll_once(self) -> None:
        """Restart children that died, with exponential backoff."""
        now = time.time()
        for child in self.children.values():
            proc = child.process
            if proc is None:
                if now >= child.next_start:
                    self._spawn(child)
                continue
            code = proc.poll()
            if code is None:
                if not child.healthy:
                    child.healthy = probe(health_url(self.settings, child.unit), timeout=0.5)[0]
                    if child.healthy:
                        self._write_state()
                continue
            child.restarts += 1
            # a worker orphaned by its master's crash would hold the port (EADDRINUSE for the restart); the
            # unit is its own process group (start_new_session), so reap whatever is left of it
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            # a unit that ran a while is considered recovered; reset its backoff. The first restart is quick:
            # nothing of the old unit is left to collide with (its process group was reaped above)
            ran_for = now - child.started_at
            backoff = 0.5 if ran_for > 60 else min(self.MAX_BACKOFF, 0.5 * 2.0 ** min(child.restarts - 1, 6))
            log.warning("%s exited with %s after %.1fs; restarting in %.1fs", child.unit.name, code, ran_for, backoff)
            child.history.append({"exit": code, "at": now})
            child.process = None
            child.healthy = False
            child.next_start = now + backoff
            self._write_state()

    def run_forever(self) -> None:
        while not self._stopping.wait(0.5):
            self.poll_once()

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        procs = [c.process for c in reversed(list(self.children.values())) if c.process and c.process.poll() is None]
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + timeout
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
            # the unit's whole group goes, like a systemd unit's cgroup: a helper daemon it started (storage's
            # tgtd ignores SIGTERM) outlives its master otherwise
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        for child in self.children.values():
            child.healthy = False
        self._write_state(running=False)

    def _write_state(self, running: bool = True) -> None:
        state = {"supervisor_pid": os.getpid(), "running": running, "units": {
            name: {"pid": c.process.pid if c.process and c.process.poll() is None else None,
                   "restarts": c.restarts, "healthy": c.healthy,
                   "ports": {p: self.settings.port(p) for p in c.unit.ports},
                   "health_url": health_url(self.settings, c.unit),
                   "log": str(c.log_path) if c.log_path else None}
            for name, c in self.children.items()}}
        self.run_dir.mkdir(parents=True, exist_ok=True)
        record = self.settings.state_dir / RECORD  # what `egret status` reads (appliance/unitstatus.py)
        tmp = record.with_name(record.name + ".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, record)


def _tail(path: Path | None, lines: int = 20) -> str:
    if not path or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
