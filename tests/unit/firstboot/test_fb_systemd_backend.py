"""The systemd services backend (the appliance): gate, `systemctl start`, health wait, rollback; detection."""
from __future__ import annotations

import os
import ssl
import stat
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from appliance import pki
from appliance.manifest import load_manifest
from appliance.testing.plugin import free_port, make_settings
from firstboot.backends import (
    SupervisedServices,
    SystemdServices,
    make_services,
    share_state_dir,
    systemd_manages_egret,
)

from fb_unit_helpers import Box

UNITS = ["identity", "network", "storage", "compute"]


class _Healthz(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status": "ok"}'
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class FakeSystemctl:
    """systemctl on a fake PID 1: gated units (setup-done or the gate directory) serve /healthz once started."""

    def __init__(self, settings, gate, *, broken=(), crashloop=(), silent=()):
        self.settings, self.gate = settings, gate
        self.broken, self.crashloop, self.silent = set(broken), set(crashloop), set(silent)
        self.calls: list[list[str]] = []
        self.servers: dict[str, ThreadingHTTPServer] = {}
        self.condition: dict[str, str] = {}
        self.loaded = True

    def _unit(self, unit):
        return load_manifest()[unit[len("egret-"):-len(".service")]]

    def _serve(self, unit) -> ThreadingHTTPServer:
        srv = ThreadingHTTPServer(("127.0.0.1", self.settings.port(self._unit(unit).ports[0])), _Healthz)
        if self._unit(unit).extra.get("tls"):  # the health probe speaks HTTPS to TLS units
            ca = pki.CertificateAuthority.create(self.settings.state_dir / "fake-ca", "fake")
            crt, key = self.settings.state_dir / "fake.crt", self.settings.state_dir / "fake.key"
            ca.ensure_leaf(crt, key, "fake", ["127.0.0.1"])
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(crt, key)
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        return srv

    def __call__(self, args, timeout=60.0):
        self.calls.append(list(args))
        verb, unit = args[0], args[-1]
        out = ""
        if verb == "start":
            open_gate = self.gate.is_dir() or (self.settings.state_dir / "firstboot" / "setup-done").exists()
            self.condition[unit] = "yes" if open_gate else "no"
            if open_gate and unit not in self.servers and not (self.broken | self.crashloop | self.silent) & {unit}:
                srv = self._serve(unit)
                threading.Thread(target=srv.serve_forever, daemon=True).start()
                self.servers[unit] = srv
        elif verb == "stop" and unit in self.servers:
            srv = self.servers.pop(unit)
            srv.shutdown()
            srv.server_close()
        elif verb == "show" and "LoadState" in args[2]:
            out = "loaded\n" if self.loaded else "not-found\n"
        elif verb == "show":
            active = ("failed" if unit in self.broken else "active" if unit in self.servers or unit in self.silent
                      or unit in self.crashloop else "inactive")
            restarts = 5 if unit in self.crashloop else 0
            out = (f"ActiveState={active}\nSubState=x\nResult=success\nNRestarts={restarts}\n"
                   f"ConditionResult={self.condition.get(unit, 'no')}\n")
        return subprocess.CompletedProcess(["systemctl", *args], 0, out, "")

    def close(self):
        for srv in self.servers.values():
            srv.shutdown()
            srv.server_close()


@pytest.fixture
def ports_settings(tmp_path):
    ports = {name: free_port() for name in ("identity", "network", "image", "volume", "s3", "compute", "metadata",
                                             "cluster", "firstboot")}
    return make_settings(tmp_path / "state", ports=ports)


@pytest.fixture
def fake(ports_settings, tmp_path):
    made = []

    def make(**kw):
        made.append(FakeSystemctl(ports_settings, tmp_path / "run" / "setup-applying", **kw))
        return made[-1]

    yield make
    for f in made:
        f.close()


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def backend(fake_ctl, clock=None):
    clock = clock or Clock()
    return SystemdServices(systemctl=fake_ctl, gate=fake_ctl.gate, poll=0.01, clock=clock, sleep=clock.sleep)


def test_start_opens_the_gate_starts_the_unit_and_waits_for_health(ports_settings, fake):
    ctl = fake()
    sd = backend(ctl)
    assert not ctl.gate.exists()
    sd.start(ports_settings, "identity")
    assert ctl.gate.is_dir()
    assert ["start", "egret-identity.service"] in ctl.calls
    # the owners of what apply created (root without CAP_CHOWN) come from egret-state.service first (issue 12)
    assert ctl.calls.index(["reload", "egret-state.service"]) < ctl.calls.index(["start", "egret-identity.service"])
    row = {r["unit"]: r for r in sd.health(ports_settings)}["identity"]
    assert row["healthy"] and row["port"] == ports_settings.port("identity")
    assert not {r["unit"]: r for r in sd.health(ports_settings)}["compute"]["healthy"]


def test_closed_gate_is_reported_not_waited_for(ports_settings, fake):
    ctl = fake()
    sd = backend(ctl)
    sd.gate = ctl.gate.parent / "elsewhere"  # the backend opens a path the units do not check
    with pytest.raises(RuntimeError, match="setup gate .* is closed"):
        sd.start(ports_settings, "identity")


def test_failed_and_crash_looping_units_fail_fast_with_the_journal_hint(ports_settings, fake):
    clock = Clock()
    sd = backend(fake(broken={"egret-network.service"}, crashloop={"egret-storage.service"}), clock)
    with pytest.raises(RuntimeError, match=r"egret-network.service failed \(failed/x.*journalctl -u egret-network"):
        sd.start(ports_settings, "network")
    with pytest.raises(RuntimeError, match=r"egret-storage.service failed .*5 restarts"):
        sd.start(ports_settings, "storage")
    assert clock.t < 1  # neither waited for the timeout


def test_unit_that_never_answers_times_out(ports_settings, fake):
    clock = Clock()
    sd = backend(fake(silent={"egret-compute.service"}), clock)
    with pytest.raises(RuntimeError, match=r"egret-compute.service not healthy after 30s"):
        sd.start(ports_settings, "compute", timeout=30)
    assert clock.t >= 30


def test_systemctl_start_error_is_raised(ports_settings, fake):
    ctl = fake()

    def refusing(args, timeout=60.0):
        if args[0] == "start":
            return subprocess.CompletedProcess(args, 5, "", "Unit egret-identity.service not found.")
        return ctl(args, timeout)
    sd = SystemdServices(systemctl=refusing, gate=ctl.gate)
    with pytest.raises(RuntimeError, match="systemctl start egret-identity.service failed: Unit .* not found"):
        sd.start(ports_settings, "identity")


def test_stop_stops_the_unit_and_stop_all_leaves_systemd_units_running(ports_settings, fake):
    ctl = fake()
    sd = backend(ctl)
    sd.start(ports_settings, "identity")
    sd.keep_running()
    sd.stop_all()  # `egret firstboot --answers` ends with this: the box's units must keep running
    assert {r["unit"]: r for r in sd.health(ports_settings)}["identity"]["healthy"]
    sd.stop("identity")
    assert ["stop", "egret-identity.service"] in ctl.calls
    assert not {r["unit"]: r for r in sd.health(ports_settings)}["identity"]["healthy"]


def test_apply_through_systemd_then_rollback_on_failure(tmp_path, fake, ports_settings):
    """The wizard's apply on the systemd backend: every unit started in order; a failure stops what started."""
    ctl = fake(broken={"egret-compute.service"})
    box = Box(tmp_path / "b1", services=backend(ctl), ports=ports_settings.ports).unlock()
    ctl.settings = box.settings
    run = box.complete_steps().apply_and_wait()
    assert run["status"] == "failed" and "egret-compute.service failed" in run["error"], run
    starts = [c[1] for c in ctl.calls if c[0] == "start"]
    assert starts == [f"egret-{u}.service" for u in UNITS]
    stops = [c[1] for c in ctl.calls if c[0] == "stop"]
    assert stops == [f"egret-{u}.service" for u in reversed(UNITS)]  # compute (failed) first, then the rest
    assert not ctl.servers and not box.wizard.state.setup_done

    ctl.broken.clear()
    run = box.apply_and_wait()
    assert run["status"] == "done", run
    assert sorted(ctl.servers) == sorted(f"egret-{u}.service" for u in UNITS + ["cluster"])
    assert box.wizard.state.setup_done


def test_detection_needs_systemd_and_the_installed_units(ports_settings, fake, tmp_path, monkeypatch):
    ctl = fake()
    booted = tmp_path / "run-systemd-system"
    assert not systemd_manages_egret(ports_settings, ctl, booted)  # not booted with systemd (these machines)
    booted.mkdir()
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/" + name)
    assert systemd_manages_egret(ports_settings, ctl, booted)
    assert ["show", "-p", "LoadState", "--value", "egret-identity.service"] in ctl.calls
    ctl.loaded = False  # systemd, but Egret's units are not installed (a developer's laptop)
    assert not systemd_manages_egret(ports_settings, ctl, booted)


def test_make_services_detects_or_follows_the_setting(tmp_path):
    # no systemd here: detection picks the dev supervisor
    assert isinstance(make_services(make_settings(tmp_path / "a")), SupervisedServices)
    forced = make_settings(tmp_path / "b", service={"firstboot": {"services": "systemd"}})
    assert isinstance(make_services(forced), SystemdServices)
    with pytest.raises(ValueError, match="services = 'docker'"):
        make_services(make_settings(tmp_path / "c", service={"firstboot": {"services": "docker"}}))


def test_share_state_dir_gives_the_group_what_root_created(tmp_path):
    """Files apply created as root (0700 keys, 0644 database): the plan's modes (appliance/stateplan.py), the
    token keys and databases group read-only, nothing for others but passing through the top (to the
    guests' files), private state untouched."""

    state = tmp_path / "state"
    (state / "fernet-keys").mkdir(parents=True, mode=0o700)
    key = state / "fernet-keys" / "0"
    key.write_text("k")
    key.chmod(0o600)
    db = state / "identity.db"
    db.write_text("")
    db.chmod(0o644)
    tool = state / "tool"
    tool.write_text("")
    tool.chmod(0o700)
    (state / "link").symlink_to("/etc/hostname")
    (state / "credential-keys").mkdir(mode=0o700)  # identity's own, private (egret-state.service skips it too)
    (state / "credential-keys" / "0").write_text("c")
    (state / "credential-keys" / "0").chmod(0o600)
    before = stat.S_IMODE(os.stat("/etc/hostname").st_mode)
    assert share_state_dir(state, group="no-such-group-here") >= 4
    mode = lambda p: stat.S_IMODE(os.lstat(p).st_mode)  # noqa: E731
    assert mode(state / "fernet-keys") == 0o2750 and mode(key) == 0o640
    assert mode(db) == 0o640 and mode(tool) == 0o750 and mode(state) == 0o3771
    assert stat.S_IMODE(os.stat("/etc/hostname").st_mode) == before  # a symlink is never followed
    assert mode(state / "credential-keys") == 0o700 and mode(state / "credential-keys" / "0") == 0o600
    assert share_state_dir(state, group="no-such-group-here") == 0


def test_the_realtime_profile_is_put_in_place_by_its_root_unit(ports_settings):
    calls = []

    def ctl(args, timeout=60.0):
        calls.append(args)
        failed = args == ["restart", "egret-realtime.service"] and len(calls) > 1
        return subprocess.CompletedProcess(args, 1 if failed else 0, "", "Job failed." if failed else "")
    sd = SystemdServices(systemctl=ctl)
    sd.apply_realtime(ports_settings)
    assert calls == [["restart", "egret-realtime.service"]]      # a restart: the oneshot runs again each time
    with pytest.raises(RuntimeError, match="egret-realtime.service failed: Job failed.*journalctl -u egret-realtime"):
        sd.apply_realtime(ports_settings)
