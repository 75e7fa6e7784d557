"""The site side of enrolment, without a hub: token checks, idempotence, other-hub refusal, no leftovers."""
from __future__ import annotations

import json
import time

import pytest

from appliance import federation_site, jointoken, pki
from appliance.manifest import load_manifest
from appliance.processes import prepare
from appliance.testing.plugin import free_port, make_settings

FP = "sha256:" + "ab" * 32


@pytest.fixture
def settings(tmp_path):
    """No hub database here: the site side runs once, not once per database engine."""
    return make_settings(tmp_path / "state")


def token(hub_url, fingerprint=FP, expires_in=600):
    return jointoken.make_token("enrol", ca_fingerprint=fingerprint, expires_at=time.time() + expires_in,
                                hub_url=hub_url)


def files(settings):
    return sorted(p.name for p in (settings.state_dir / "cluster").rglob("*")) \
        if (settings.state_dir / "cluster").exists() else []


@pytest.mark.parametrize("bad, message", [
    ("garbage", "must start with 'egret-enrol:v1:'"),
    ("egret-join:v1:e30", "join token"),
    ("egret-enrol:v1:!!!", "damaged"),
])
def test_malformed_tokens_are_refused_before_any_network(settings, bad, message):
    with pytest.raises(federation_site.EnrolError, match=message):
        federation_site.enrol(settings, bad, site_name="edge-1")
    assert files(settings) == []


def test_expired_token_is_refused(settings):
    with pytest.raises(federation_site.EnrolError, match="expired"):
        federation_site.enrol(settings, token("https://127.0.0.1:1", expires_in=-10), site_name="edge-1")
    assert files(settings) == []


def test_unreachable_hub_leaves_nothing(settings):
    with pytest.raises(federation_site.EnrolError, match="cannot reach"):
        federation_site.enrol(settings, token(f"https://127.0.0.1:{free_port()}"), site_name="edge-1")
    assert files(settings) == [] and federation_site.enrolment(settings) is None


def _pretend_enrolled(settings, hub_url="https://hub.example:8119", fingerprint=FP, site="edge-1"):
    d = federation_site.directory(settings)
    d.mkdir(parents=True)
    record = {"hub_url": hub_url, "ca_fingerprint": fingerprint, "site": site}
    (d / "hub.json").write_text(json.dumps(record))
    return record


def test_enrolling_again_in_the_same_hub_is_a_no_op(settings):
    record = _pretend_enrolled(settings)
    # no network call: the hub URL in this token does not even answer; an expired token is fine for a no-op
    again = federation_site.enrol(settings, token(f"https://127.0.0.1:{free_port()}", expires_in=-10),
                                  site_name="edge-1")
    assert again == record


def test_enrolling_in_another_hub_or_as_another_site_is_refused(settings):
    _pretend_enrolled(settings)
    with pytest.raises(federation_site.EnrolError, match="already enrolled in the hub at https://hub.example:8119"):
        federation_site.enrol(settings, token("https://other:8119", fingerprint="sha256:" + "cd" * 32),
                              site_name="edge-1")
    with pytest.raises(federation_site.EnrolError, match="as site 'edge-1'"):
        federation_site.enrol(settings, token("https://hub.example:8119"), site_name="edge-2")


def test_forget_removes_the_enrolment(settings):
    _pretend_enrolled(settings)
    federation_site.forget(settings)
    assert federation_site.enrolment(settings) is None and files(settings) == []
    federation_site.forget(settings)  # twice is fine (the wizard's rollback may run after a failed enrol)


def test_report_without_enrolment_says_so(settings):
    with pytest.raises(federation_site.EnrolError, match="not enrolled"):
        federation_site.report(settings, {}, {})


def test_hub_prepare_writes_the_tls_files_gunicorn_needs_before_it_binds(settings):
    prepare(settings, load_manifest()["federation"])  # what egret up / egret serve run before gunicorn
    files = pki.tls_files(settings, "federation")
    ca_pem = (settings.state_dir / "federation" / "ca" / "ca.crt").read_text()
    assert files["ca"].read_text() == ca_pem and pki.verifies(files["cert"].read_text(), ca_pem)
    assert files["key"].stat().st_mode & 0o777 == 0o600
