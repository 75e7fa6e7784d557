"""The site side of a decommission: only the hub's distinct 403 makes a site forget its enrolment."""
from __future__ import annotations

import json

import pytest

from appliance import federation_site, pki
from appliance.testing.plugin import make_settings


@pytest.fixture
def site(tmp_path):
    """An enrolled-looking site (no hub database here: this runs once, not once per engine)."""
    settings = make_settings(tmp_path / "state")
    d = federation_site.directory(settings)
    d.mkdir(parents=True)
    (d / "hub.json").write_text(json.dumps({"hub_url": "https://hub.example:8119", "site": "edge-1"}))
    for name in ("ca.crt", "site.crt", "site.key"):
        (d / name).write_text("x")
    return settings


def refuse(monkeypatch, message, status):
    def request(*args, **kwargs):
        raise pki.PeerError(f"https://hub.example:8119/v1/sites/edge-1/reports refused: {message} (HTTP {status})",
                            status=status)
    monkeypatch.setattr(pki, "request", request)


def test_the_distinct_403_forgets_the_enrolment(site, monkeypatch):
    refuse(monkeypatch, "Site 'edge-1' was decommissioned by this hub at 2026-01-01T00:00:00Z; it is no longer "
                        "part of the fleet.", 403)
    with pytest.raises(federation_site.Decommissioned) as gone:
        federation_site.report(site, {}, {})
    assert str(gone.value) == ("Site 'edge-1' was decommissioned by the hub https://hub.example:8119; this box is "
                               "standalone now.")
    # a PeerError too: the cluster unit's dial-home loop logs it like any refused report
    assert isinstance(gone.value, pki.PeerError) and gone.value.status == 403
    assert federation_site.enrolment(site) is None and not federation_site.directory(site).exists()


@pytest.mark.parametrize("message, status", [
    ("The certificate of site 'edge-1' was revoked on this hub; enrol again.", 403),
    ("The client certificate is not the current certificate of site 'edge-1'.", 403),
    ("was decommissioned by this hub", 401),
    ("was decommissioned by this hub", 500),
])
def test_any_other_refusal_keeps_the_enrolment(site, monkeypatch, message, status):
    refuse(monkeypatch, message, status)
    with pytest.raises(pki.PeerError) as refused:
        federation_site.report(site, {}, {})
    assert not isinstance(refused.value, federation_site.Decommissioned)
    assert federation_site.enrolment(site) is not None


def test_the_report_carries_the_release(site, monkeypatch):
    sent = {}
    monkeypatch.setattr(pki, "request", lambda *a, body=None, **k: sent.update(body or {}) or {})
    monkeypatch.setattr(federation_site, "_release", lambda: "9.9.9")
    federation_site.report(site, {"identity": True}, {"node": "n1"})
    assert sent["inventory"] == {"node": "n1", "version": "9.9.9"}
    federation_site.report(site, {}, {"version": "1.0"})  # a caller's own version is kept
    assert sent["inventory"] == {"version": "1.0"}
