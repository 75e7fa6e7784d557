"""A running node's capacity is asked again (services/compute/capacity.py): the row follows, its state stays."""
from __future__ import annotations

import threading

from services.compute import capacity, models, scheduler
from services.compute.models import ComputeNode


def _row(host):
    with models.database.connection_context():
        return ComputeNode.get(ComputeNode.host == host)


def test_the_local_node_row_follows_its_driver_and_keeps_the_admins_state(env):
    node = env.manager.node
    with models.database.connection_context():
        scheduler.register_local(node)
    sid = {s["host"]: s["id"] for s in env.admin.get("/v2.1/os-services", version="2.53").json["services"]}[node.host]
    assert env.admin.put(f"/v2.1/os-services/{sid}", json={"status": "disabled", "disabled_reason": "maint",
                                                           "forced_down": True}, version="2.53").status_code == 200
    # huge pages reserved and CPUs set aside while the service runs
    env.driver.caps.hugepages = {2048: 256}
    env.driver.caps.dedicated_cpus = [2, 3]
    row = capacity.refresh_local(node)
    assert row.hugepages == {"2048": 256} and row.dedicated_cpus == [2, 3]
    again = _row(node.host)
    assert again.hugepages == {"2048": 256} and again.state == "down"
    assert again.disabled and again.disabled_reason == "maint"


def test_the_background_loop_refreshes_and_a_failure_does_not_end_it(env, monkeypatch):
    node = env.manager.node
    with models.database.connection_context():
        scheduler.register_local(node)
    node.section["capacity_refresh_interval"] = 0.01   # raised to the floor of one second
    calls, refreshed = [], threading.Event()

    def refresh(n):
        calls.append(n)
        if len(calls) == 1:
            raise RuntimeError("libvirtd restarting")
        refreshed.set()
    monkeypatch.setattr(capacity, "refresh_local", refresh)
    stop = threading.Event()
    capacity.start_local(node, stop)
    try:
        assert refreshed.wait(10) and len(calls) == 2
    finally:
        stop.set()


def test_the_interval_setting():
    assert capacity.interval({}) == capacity.DEFAULT_INTERVAL
    assert capacity.interval({"capacity_refresh_interval": "60"}) == 60.0
    assert capacity.interval({"capacity_refresh_interval": 0}) == 1.0
    assert capacity.interval({"capacity_refresh_interval": "soon"}) == capacity.DEFAULT_INTERVAL
