"""A box's site role from the cluster unit's record, and what a member's own compute and network services leave
alone: the node's guests and links belong to the site (its agents), not to the member's unadvertised cloud."""
from __future__ import annotations

import json
import threading

import pytest

import services.compute as compute
import services.network as network
from appliance import siterole
from appliance.testing.plugin import make_settings
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
