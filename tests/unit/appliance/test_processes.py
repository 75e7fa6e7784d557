"""The supervisor runs real gunicorn children, restarts a crashed one, and stops them all."""
import json
import os
import time
import urllib.request

import pytest

from appliance.manifest import Unit, load_manifest, start_order
from appliance.processes import Supervisor
from appliance.unitstatus import status
from appliance.testing.plugin import free_port, make_settings

SAMPLE = Unit(name="sample", service="sample", description="test unit", app="appliance.testing.sample:create_app()",
              ports=("identity",), user="nobody")


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture
def supervisor(tmp_path):
    settings = make_settings(tmp_path / "s", ports={"identity": free_port()}, threads=2)
    sup = Supervisor(settings, units=[SAMPLE])
    yield sup
    sup.stop()


def test_start_restart_stop(supervisor):
    supervisor.start(wait_healthy=30)
    child = supervisor.children["sample"]
    first_pid = child.process.pid
    row, = status(supervisor.settings, [SAMPLE])
    assert row["healthy"] and row["pid"] == first_pid and row["restarts"] == 0

    port = supervisor.settings.port("identity")
    try:
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/crash", method="POST"), timeout=5)
    except OSError:
        pass  # the worker dies mid-request
    # gunicorn's master respawns a dead worker itself; kill the master to exercise our restart
    os.killpg(first_pid, 9)
    deadline = time.time() + 30
    while time.time() < deadline:
        supervisor.poll_once()
        if child.process and child.process.pid != first_pid and child.healthy:
            break
        time.sleep(0.2)
    assert child.restarts == 1
    assert child.process.pid != first_pid and child.healthy
    second = child.process.pid
    supervisor.stop()
    assert not _alive(second)
    row, = status(supervisor.settings, [SAMPLE])
    assert row["healthy"] is False and row["pid"] is None


def test_stop_ends_a_daemon_the_unit_started_that_ignores_sigterm(supervisor):
    supervisor.start(wait_healthy=30)
    port = supervisor.settings.port("identity")
    req = urllib.request.Request(f"http://127.0.0.1:{port}/helper", method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        helper = json.loads(resp.read())["pid"]
    assert _alive(helper)
    supervisor.stop()
    deadline = time.time() + 5
    while _alive(helper) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(helper)


def test_a_unit_that_cannot_start_is_reported(tmp_path):
    settings = make_settings(tmp_path / "s", ports={"identity": free_port()})
    broken = Unit(name="broken", service="x", description="", app="appliance.testing.nope:create_app()",
                  ports=("identity",), user="nobody")
    sup = Supervisor(settings, units=[broken])
    with pytest.raises(RuntimeError, match="broken exited"):
        sup.start(wait_healthy=30)
    sup.stop()


def test_manifest_order_respects_after():
    units = {
        "b": Unit("b", "svc-b", "", "m:b()", ("identity",), "u", after=("a",)),
        "a": Unit("a", "svc-a", "", "m:a()", ("identity",), "u"),
        "c": Unit("c", "svc-c", "", "m:c()", ("identity",), "u", after=("b",)),
    }
    assert [u.name for u in start_order(units, [])] == ["a", "b", "c"]
    assert [u.name for u in start_order(units, ["svc-c", "svc-a"])] == ["a", "c"]


def test_real_manifest_is_valid():
    units = load_manifest()
    assert "identity" in units
    for unit in units.values():
        assert unit.ports and unit.app.endswith(")") and unit.user
