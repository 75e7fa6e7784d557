"""The site side of renewal and of the signing key, against the hub app (its test client stands in for HTTPS:
the site's certificate file is presented as the verified peer certificate)."""
from __future__ import annotations

import json
import logging
from urllib.parse import urlparse

import pytest

from appliance import federation_bundle, federation_site, pki
from appliance.config import replace
from appliance.testing.plugin import make_settings
from services.federation import create_app
from tests.unit.federation.conftest import peer


def wire(monkeypatch, client, fail_renewal=None):
    """pki.request over the hub's test client; `fail_renewal`: a PeerError the renewal call raises instead."""
    calls = []

    def request(method, url, *, ca_pem=None, body=None, cert=None, timeout=15.0):
        path = urlparse(url).path
        calls.append((method, path))
        if fail_renewal is not None and path.endswith("/certificate"):
            raise fail_renewal
        resp = client.open(path, method=method, json=body,
                           environ_overrides=peer(cert[0].read_text() if cert else None))
        if resp.status_code >= 400:
            raise pki.PeerError(f"{url} refused: {resp.json['error']['message']} (HTTP {resp.status_code})",
                                status=resp.status_code)
        return resp.json
    monkeypatch.setattr(pki, "request", request)
    return calls


@pytest.fixture
def hub(settings, mint_token):
    """A hub issuing certificates valid 0.001 days (86 s): due for renewal at once (1/3 of 86 s + 5 min)."""
    app = create_app(replace(settings, service={"federation": {"site_cert_days": 0.001}}))
    return app.test_client(), {"X-Auth-Token": mint_token(project_id="p-admin", roles=["admin"])}


@pytest.fixture
def site(hub, tmp_path, monkeypatch):
    client, admin = hub
    wire(monkeypatch, client)
    token = client.post("/v1/enrolment-tokens", json={}, headers=admin).json["token"]
    settings = make_settings(tmp_path / "site")
    federation_site.enrol(settings, token, site_name="edge-1")
    return settings


def pair(settings):
    d = federation_site.directory(settings)
    return (d / "site.crt").read_text(), (d / "site.key").read_text()


def test_a_due_certificate_is_renewed_after_the_report(hub, site, monkeypatch):
    client, admin = hub
    old_cert, old_key = pair(site)
    answer = federation_site.report(site, {"identity": True}, {})
    renewal = answer["certificate_renewal"]
    assert renewal["renewed"] is True and renewal["expires_at"].endswith("Z")
    new_cert, new_key = pair(site)
    assert new_cert != old_cert and new_key != old_key  # a new key, generated here
    d = federation_site.directory(site)
    assert (d / "site.key").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in d.iterdir()) == ["ca.crt", "hub.json", "site.crt", "site.key"]
    assert federation_site.enrolment(site)["certificate_fingerprint"] == pki.fingerprint(new_cert)
    assert renewal["certificate_fingerprint"] == pki.fingerprint(new_cert)
    # the hub takes the new certificate and refuses the old one
    resp = client.post("/v1/sites/edge-1/reports", json={"health": {}}, environ_overrides=peer(old_cert))
    assert resp.status_code == 403 and "revoked" in resp.json["error"]["message"]
    assert client.get("/v1/sites/edge-1", headers=admin).json["site"]["certificate_fingerprint"] == \
        pki.fingerprint(new_cert)
    assert "certificate_renewal" in federation_site.report(site, {"identity": True}, {})


def test_a_certificate_not_due_is_kept(settings, mint_token, tmp_path, monkeypatch):
    client = create_app(settings).test_client()  # the default 825 days
    wire(monkeypatch, client)
    admin = {"X-Auth-Token": mint_token(project_id="p-admin", roles=["admin"])}
    site = make_settings(tmp_path / "site")
    federation_site.enrol(site, client.post("/v1/enrolment-tokens", json={}, headers=admin).json["token"],
                          site_name="edge-1")
    before = pair(site)
    assert "certificate_renewal" not in federation_site.report(site, {}, {})
    assert pair(site) == before
    # renew_before is the site's setting: renewing when less than 99.99999% is left means now
    eager = replace(site, service={"federation": {"renew_before": 0.9999999}})
    assert federation_site.report(eager, {}, {})["certificate_renewal"]["renewed"] is True
    assert pair(site) != before


def test_a_failed_renewal_keeps_the_pair_and_is_retried(hub, site, monkeypatch, caplog):
    client, _ = hub
    before = pair(site)
    wire(monkeypatch, client, fail_renewal=pki.PeerError("cannot reach https://hub/v1/sites/edge-1/certificate"))
    with caplog.at_level(logging.WARNING, logger="appliance.federation_site"):
        answer = federation_site.report(site, {}, {})
    assert answer["certificate_renewal"]["renewed"] is False and "cannot reach" in answer["certificate_renewal"][
        "error"]
    assert "Renewing the site certificate failed" in caplog.text and "PRIVATE" not in caplog.text
    assert pair(site) == before
    wire(monkeypatch, client)  # the hub is back: the next report renews
    assert federation_site.report(site, {}, {})["certificate_renewal"]["renewed"] is True
    assert pair(site) != before


def test_a_refused_renewal_keeps_the_pair(hub, site, monkeypatch):
    client, admin = hub
    before = pair(site)
    assert client.post("/v1/sites/edge-1/decommission", headers=admin).status_code == 200
    with pytest.raises(federation_site.RenewalError, match="refused the certificate renewal") as refused:
        federation_site.renew(site)
    assert refused.value.status == 403 and pair(site) == before


def test_an_answer_for_another_key_is_not_installed(hub, site, monkeypatch):
    before = pair(site)
    real = pki.request

    def request(method, url, **kw):
        answer = real(method, url, **kw)
        if url.endswith("/certificate"):  # a certificate the CA signed, but for a key this box did not make
            answer["certificate"] = before[0]
        return answer
    monkeypatch.setattr(pki, "request", request)
    with pytest.raises(federation_site.RenewalError, match="not for this site's new key"):
        federation_site.renew(site)
    assert pair(site) == before


@pytest.mark.parametrize("stage", ["both staged", "key renamed", "only the key staged", "torn certificate"])
def test_a_crash_mid_renewal_leaves_a_working_pair(hub, site, stage):
    d = federation_site.directory(site)
    old_cert, old_key = pair(site)
    key_pem, csr_pem = pki.new_key_and_csr("site:edge-1")
    new_cert = hub[0].post("/v1/sites/edge-1/certificate", json={"csr": csr_pem},
                           environ_overrides=peer(old_cert)).json["certificate"]
    pki.write_private(d / "site.key.new", key_pem)
    if stage == "only the key staged":
        expected = (old_cert, old_key)
    elif stage == "torn certificate":
        (d / "site.crt.new").write_text(new_cert[:40])
        expected = (old_cert, old_key)
    else:
        (d / "site.crt.new").write_text(new_cert)
        if stage == "key renamed":
            (d / "site.key.new").rename(d / "site.key")
        expected = (new_cert, key_pem)
    federation_site._finish_renewal(site)
    assert pair(site) == expected
    assert sorted(p.name for p in d.iterdir()) == ["ca.crt", "hub.json", "site.crt", "site.key"]
    assert (d / "site.key").stat().st_mode & 0o777 == 0o600
    if expected[0] == new_cert:
        # the report finishes the renewal first, and the completed pair is the one the hub takes
        assert federation_site.enrolment(site)["certificate_fingerprint"] == pki.fingerprint(new_cert)
        federation_site.report(site, {}, {})


def test_the_signing_key_is_pinned_at_enrolment(hub, site):
    client, _ = hub
    assert federation_site.enrolment(site)["signing_key"] == client.get("/v1/signing-key").json["signing_key"]


def test_an_old_enrolment_pins_the_signing_key_once(hub, site, monkeypatch, caplog):
    client, _ = hub
    path = federation_site.directory(site) / "hub.json"
    record = json.loads(path.read_text())
    expected = record.pop("signing_key")
    path.write_text(json.dumps(record))
    calls = wire(monkeypatch, client)
    with caplog.at_level(logging.INFO, logger="appliance.federation_site"):
        federation_site.report(site, {}, {})
    assert "Pinned the signing key " + expected["key_id"] in caplog.text
    assert federation_site.enrolment(site)["signing_key"] == expected
    assert calls.count(("GET", "/v1/signing-key")) == 1
    federation_site.report(site, {}, {})
    assert calls.count(("GET", "/v1/signing-key")) == 1  # pinned: never fetched (or replaced) again
    assert federation_bundle.load_public_key(federation_site.enrolment(site)["signing_key"])[1] == \
        expected["key_id"]


def test_a_bad_renew_before_falls_back_to_a_third(tmp_path):
    for bad in (0, 1, "soon", -0.5):
        s = make_settings(tmp_path / "s", service={"federation": {"renew_before": bad}})
        assert federation_site.renew_before(s) == pytest.approx(1 / 3)
    assert federation_site.renew_before(make_settings(tmp_path / "s", service={"federation": {
        "renew_before": 0.5}})) == 0.5
