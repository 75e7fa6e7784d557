"""A box's site role from the cluster unit's record, and what a member's own compute and network services leave
alone: the node's guests and links belong to the site (its agents), not to the member's unadvertised cloud."""
from __future__ import annotations

import json
import subprocess
import threading

import pytest

import services.compute as compute
import services.network as network
from appliance import siterole
from appliance.manifest import load_manifest, start_order
from appliance.processes import Supervisor
from appliance.testing.plugin import make_settings
from appliance.unitstatus import status
from services.compute.drivers.fake import FakeDriver as FakeComputeDriver
from services.network.drivers.fake import FakeDriver as FakeNetworkDriver


def _record(settings, role=None, text=None):
    path = siterole.record_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"role": role, "site": "lab"}) if text is None else text)


@pytest.mark.parametrize("text,expected", [('{"role": "member"}', "member"), ('{"role": "founder"}', "founder"),
                                           ("", None), ("{not json", None), ("[]", None)])
def test_role_from_the_record_and_a_broken_record_counts_as_none(settings, text, expected):
    assert siterole.role(settings) is None           # no record: a box of its own
    _record(settings, text=text)
    assert siterole.role(settings) == expected
    assert siterole.is_member(settings) is (expected == "member")


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path / "state")


@pytest.mark.parametrize("role,started", [(None, True), ("founder", True), ("member", False)])
def test_a_members_own_compute_service_runs_no_reconcile(tmp_path, monkeypatch, role, started):
    # the reconcile would take the site's guests on this node (same prefix, no row here) for ghosts
    settings = make_settings(tmp_path / "state", fake_drivers=True)
    if role:
        _record(settings, role)
    calls = []
    monkeypatch.setattr(compute, "_start_background", lambda *a: calls.append("background"))
    monkeypatch.setattr(compute, "_follow_site", lambda *a: calls.append("follow"))
    app = compute.create_app(settings, driver=FakeComputeDriver(prefix="egsr-"))
    assert calls == (["background", "follow"] if started else [])
    assert app is not None


@pytest.mark.parametrize("role,reconciles", [(None, True), ("member", False)])
def test_a_members_own_network_service_leaves_the_data_plane_alone(tmp_path, role, reconciles):
    # its desired state (empty) would tear down the links the node's agent made for the site
    (tmp_path / "state" / "etc").mkdir(parents=True)
    (tmp_path / "state" / "etc" / "net.toml").write_text("[service.network]\nreconcile_interval = 60\n")
    settings = make_settings(tmp_path / "state", fake_drivers=True)
    if role:
        _record(settings, role)
    before = set(threading.enumerate())
    app = network.create_app(settings, driver=FakeNetworkDriver(settings, prefix="egsn"))
    try:
        started = [t.name for t in set(threading.enumerate()) - before]
        assert ("network-reconcile" in started) is reconciles, started
    finally:
        app.extensions["egret.stop"].set()


API_UNITS = {"identity", "compute", "network", "storage"}


@pytest.mark.parametrize("role", [None, "founder", "member"])
def test_a_member_runs_no_api_unit(settings, role):
    """`egret up`, `egret status` and the heartbeats' health: a member gave up its own cloud at the join."""
    if role:
        _record(settings, role)
    every = start_order(load_manifest(), settings.enabled_services)
    assert API_UNITS <= {u.name for u in every}
    expected = {u.name for u in every} - (API_UNITS if role == "member" else set())
    assert {u.name for u in siterole.own_units(settings, every)} == expected
    assert {u.name for u in Supervisor(settings).units} == expected
    assert {r["unit"] for r in status(settings)} == expected
    assert {"cluster", "firstboot"} <= expected   # the membership and the wizard stay on every box


def test_a_join_or_leave_has_systemd_stop_or_start_the_api_units_and_the_agents(settings, tmp_path):
    calls = []

    def systemctl(args):
        calls.append(args)
        loaded = "loaded" if args[-1] != "egret-storage.service" else "not-found"
        return subprocess.CompletedProcess(args, 0, loaded + "\n" if args[0] == "show" else "", "")
    booted = tmp_path / "run-systemd"
    # no systemd (a dev machine: `egret up` applies the role at its next start)
    assert siterole.apply_to_units(settings, systemctl, booted) == [] and calls == []
    booted.mkdir()
    api = ["egret-identity.service", "egret-network.service", "egret-compute.service"]
    agents = ["egret-compute-agent.service", "egret-network-agent.service"]
    _record(settings, "member")
    lines = siterole.apply_to_units(settings, systemctl, booted)
    acted = [c for c in calls if c[0] != "show"]
    assert [(c[0], sorted(c[1:])) for c in acted] == [("stop", sorted(api)), ("start", sorted(agents))], acted
    assert lines[0].startswith("systemctl stop ") and lines[0].endswith(": done")
    calls.clear()
    siterole.record_path(settings).unlink()          # left the site: a box of its own again
    siterole.apply_to_units(settings, systemctl, booted)
    acted = [c for c in calls if c[0] != "show"]
    assert [(c[0], sorted(c[1:])) for c in acted] == [("start", sorted(api)), ("stop", sorted(agents))], acted
    calls.clear()
    _record(settings, "founder")                     # a founder's units are its own business
    assert siterole.apply_to_units(settings, systemctl, booted) == [] and calls == []

    def failing(args):
        return subprocess.CompletedProcess(args, 1 if args[0] != "show" else 0,
                                           "loaded\n" if args[0] == "show" else "", "Access denied")
    _record(settings, "member")
    assert siterole.apply_to_units(settings, failing, booted)[0].endswith("failed: Access denied")
