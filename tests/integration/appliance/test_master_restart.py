"""kill -9 of a unit's master while its worker lives: the worker dies with it (PR_SET_PDEATHSIG), the supervisor
reaps the unit's process group, and the restarted master binds at once (no EADDRINUSE)."""
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from appliance import processes
from appliance.manifest import Unit, load_manifest
from appliance.processes import Supervisor
from appliance.unitstatus import health_url, probe
from appliance.testing.plugin import free_port, make_settings

SAMPLE = Unit(name="sample", service="sample", description="test unit", app="appliance.testing.sample:create_app()",
              ports=("identity",), user="nobody")


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _kill_master_and_measure(sup: Supervisor) -> tuple[float, float | None, str]:
    """kill -9 the master; (seconds until the new master answers, seconds the orphaned worker lived or None if it
    still lives, log text)."""
    child, = sup.children.values()
    master = child.process.pid
    worker, = _children(master)
    url = health_url(sup.settings, child.unit)
    assert probe(url)[0]
    offset = child.log_path.stat().st_size
    # a client in the middle of an upload: the request is in flight when the master dies
    uploader = socket.create_connection(("127.0.0.1", sup.settings.port(child.unit.ports[0])))
    uploader.sendall(b"POST /v2/images HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    time.sleep(0.3)
    os.kill(master, signal.SIGKILL)
    killed = time.monotonic()
    worker_gone = None
    try:
        while time.monotonic() - killed < 60:
            sup.poll_once()
            now = time.monotonic()
            if worker_gone is None and not _alive(worker):
                worker_gone = now - killed
            # only the new master's answer counts (an orphan still holding the socket would answer too)
            new = child.process.pid if child.process and child.process.pid != master else None
            with open(child.log_path, errors="replace") as f:
                f.seek(offset)
                log = f.read()
            if new and f"[{new}] [INFO] Listening at" in log and probe(url, 0.5)[0]:
                return now - killed, worker_gone, log
            time.sleep(0.05)
    finally:
        uploader.close()
        if _alive(worker):  # the orphan of the before-the-fix run lives on: end it
            os.kill(worker, signal.SIGKILL)
    state = Path(f"/proc/{worker}/stat").read_text() if Path(f"/proc/{worker}").exists() else "gone"
    raise AssertionError(f"the unit did not come back (worker {worker}: {state}):\n"
                         f"{child.log_path.read_text()[-3000:]}")


def _supervisor(tmp_path, name: str) -> Supervisor:
    unit = SAMPLE if name == "sample" else load_manifest()[name]
    ports = {port: free_port() for port in unit.ports}
    settings = make_settings(tmp_path / "s", ports=ports, threads=2, fake_drivers=True)
    return Supervisor(settings, units=[unit])


@pytest.mark.parametrize("name", ["sample", "storage"])
def test_kill_9_master_restarts_without_eaddrinuse(tmp_path, name):
    sup = _supervisor(tmp_path, name)
    try:
        sup.start(wait_healthy=60)
        outage, orphan_lived, log = _kill_master_and_measure(sup)
        print(f"\n{name}: kill -9 master: orphaned worker lived {orphan_lived:.2f} s; unit answering again after "
              f"{outage:.2f} s")
        assert orphan_lived is not None and orphan_lived < 1.0
        assert "Address already in use" not in log and "Connection in use" not in log, log
        assert outage < 8.0  # a new master starts in 2-5 s on a loaded 2-core machine
        assert sup.children[name].restarts == 1
    finally:
        sup.stop()


@pytest.mark.parametrize("name", ["sample", "storage"])
def test_kill_9_master_before_the_fix(tmp_path, monkeypatch, name):
    """The same with plain gthread workers and no reaping (what Egret did before), for the record: the numbers
    the fix is measured against."""
    real_killpg = os.killpg
    reaping = {"off": True}

    def killpg(pid, sig):
        if reaping["off"] and sig == signal.SIGKILL:
            return
        real_killpg(pid, sig)
    monkeypatch.setattr(processes.os, "killpg", killpg)
    plain = processes.gunicorn_command

    def command(settings, unit):
        cmd = plain(settings, unit)
        cmd[cmd.index("appliance.gworker.EgretWorker")] = "gthread"
        return cmd
    monkeypatch.setattr(processes, "gunicorn_command", command)
    sup = _supervisor(tmp_path, name)
    try:
        sup.start(wait_healthy=60)
        outage, orphan_lived, log = _kill_master_and_measure(sup)
        in_use = log.count("Connection in use")
        lived = "still alive" if orphan_lived is None else f"lived {orphan_lived:.2f} s"
        print(f"\n{name} before the fix: orphaned worker {lived}; unit answering again after {outage:.2f} s; "
              f"{in_use} EADDRINUSE retries")
        # the orphan, waiting on an upload in flight, kept the port for gunicorn's graceful timeout
        assert in_use > 0 and outage > 5
    finally:
        reaping["off"] = False
        sup.stop()
