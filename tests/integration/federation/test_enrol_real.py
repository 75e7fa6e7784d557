"""A real hub (egret up: identity + federation under gunicorn, real TLS) and a site enrolling and dialing home."""
from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import urllib.request

from importlib.metadata import version

import pytest

from appliance import federation_site, jointoken, pki
from appliance.testing.cloud import RunningCloud
from appliance.testing.plugin import make_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    cloud = RunningCloud(tmp_path_factory.mktemp("hub"), services=["identity", "federation"]).start()
    yield cloud
    cloud.stop()


@pytest.fixture(scope="module")
def short_hub(tmp_path_factory):
    """A second hub whose site certificates live 12 s: the shared hub keeps the default lifetime, since a short
    one would make every other test's certificates expire at timing-dependent points."""
    state = tmp_path_factory.mktemp("short-hub")
    (state / "etc").mkdir()
    (state / "etc" / "federation.toml").write_text(f"[service.federation]\nsite_cert_days = {12 / 86400!r}\n")
    cloud = RunningCloud(state, services=["identity", "federation"]).start()
    yield cloud
    cloud.stop()


def hub_api(hub, method, path, ca_pem, token, body=None):
    ctx = ssl.create_default_context(cadata=ca_pem)
    ctx.check_hostname = False
    req = urllib.request.Request(f"https://127.0.0.1:{hub.ports['federation']}{path}", method=method,
                                 headers={"X-Auth-Token": token, "Content-Type": "application/json"},
                                 data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def local_files(settings):
    base = settings.state_dir / "cluster"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*")) if base.exists() else []


def test_enrol_report_list_revoke(hub, tmp_path):
    started = time.time()
    out = hub.egret("enrol-token", "--ttl", "600")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    body = jointoken.parse("enrol", token)
    assert body["hub_url"] == f"https://127.0.0.1:{hub.ports['federation']}"
    assert jointoken.pretty_fingerprint(body["ca_fingerprint"]) in out.stderr

    # a token pinning another CA: the site refuses the hub before sending its secret, and keeps nothing
    wrong = jointoken.make_token("enrol", ca_fingerprint="sha256:" + "00" * 32, hub_url=body["hub_url"],
                                 expires_at=time.time() + 600)
    other = make_settings(tmp_path / "other")
    with pytest.raises(pki.PinMismatch, match="this is not the box that issued the token"):
        federation_site.enrol(other, wrong, site_name="edge-9")
    assert local_files(other) == []

    site = make_settings(tmp_path / "site")
    record = federation_site.enrol(site, token, site_name="edge-1",
                                   info={"version": "test", "units": ["identity"], "hostname": "box-1"})
    assert record["site"] == "edge-1" and record["ca_fingerprint"] == body["ca_fingerprint"]
    assert local_files(site) == ["federation", "federation/ca.crt", "federation/hub.json", "federation/site.crt",
                                 "federation/site.key"]
    files = federation_site.directory(site)
    assert (files / "site.key").stat().st_mode & 0o777 == 0o600
    ca_pem = (files / "ca.crt").read_text()
    assert pki.fingerprint(ca_pem) == body["ca_fingerprint"]
    assert pki.verifies((files / "site.crt").read_text(), ca_pem)
    assert federation_site.enrolment(site) == record
    # the hub's signing key came with the enrolment answer (over the pinned CA) and is pinned
    status, published = hub_api(hub, "GET", "/v1/signing-key", ca_pem, "")
    assert status == 200 and record["signing_key"] == published["signing_key"]
    assert (hub.state_dir / "federation" / "signing" / "signing.key").stat().st_mode & 0o777 == 0o600
    # again with the same token: nothing to do, and no request reaches the hub (the token is used up there)
    assert federation_site.enrol(site, token, site_name="edge-1") == record

    # the used token, from another box: a clear refusal, nothing written
    with pytest.raises(federation_site.EnrolError, match="already used"):
        federation_site.enrol(other, token, site_name="edge-2")
    assert local_files(other) == []

    answer = federation_site.report(site, {"identity": True, "compute": False}, {"servers": 2, "vcpus": 4})
    # a unit down: online but degraded
    assert answer["next_report_in"] == 60 and answer["site"]["status"] == "degraded"
    federation_site.report(site, {"identity": True, "compute": True}, {"servers": 3})

    admin = hub.admin_token()
    status, listed = hub_api(hub, "GET", "/v1/sites", ca_pem, admin)
    assert status == 200
    (edge,) = listed["sites"]
    assert edge["name"] == "edge-1" and edge["status"] == "online" and edge["report_count"] == 2
    assert edge["health"] == {"identity": True, "compute": True} and edge["inventory"]["servers"] == 3
    # report() adds the box's release to whatever inventory its caller built
    assert edge["version"] == edge["inventory"]["version"] == version("egret")
    assert edge["info"]["hostname"] == "box-1"

    # mTLS is what authenticates a report: no client certificate, or one from another CA, is refused
    url = f"{record['hub_url']}/v1/sites/edge-1/reports"
    with pytest.raises(pki.PeerError) as refused:
        pki.request("POST", url, ca_pem=ca_pem, body={"health": {}})
    assert refused.value.status == 401 and "client certificate" in str(refused.value)
    rogue_ca = pki.CertificateAuthority.create(tmp_path / "rogue-ca", "rogue")
    key_pem, csr_pem = pki.new_key_and_csr("site:edge-1")
    pki.write_private(tmp_path / "rogue.key", key_pem)
    (tmp_path / "rogue.crt").write_text(rogue_ca.issue(csr_pem, "site:edge-1"))
    with pytest.raises(pki.PeerError) as refused:
        pki.request("POST", url, ca_pem=ca_pem, body={"health": {}},
                    cert=(tmp_path / "rogue.crt", tmp_path / "rogue.key"))
    assert refused.value.status is None  # the TLS handshake itself fails: the hub does not trust that CA

    status, _ = hub_api(hub, "DELETE", "/v1/sites/edge-1", ca_pem, admin)
    assert status == 204
    with pytest.raises(pki.PeerError) as refused:
        federation_site.report(site, {"identity": True}, {})
    assert refused.value.status == 403 and "revoked" in str(refused.value)
    status, listed = hub_api(hub, "GET", "/v1/sites", ca_pem, admin)
    assert listed["sites"] == []
    assert time.time() - started < 60


def test_enrol_token_cli_refuses_a_bad_ttl(hub):
    out = hub.egret("enrol-token", "--ttl", "10")
    assert out.returncode == 2 and "--ttl must be between 60 and 604800" in out.stderr
    out = hub.egret("enrol-token", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["ca_fingerprint"].startswith("sha256:")


def test_egret_up_prints_the_hub_as_https(hub):
    text = hub.output_path.read_text()
    assert f"https://127.0.0.1:{hub.ports['federation']}/v1" in text, text


def site_egret(hub, state):
    """`egret` on a site: its own state dir, the hub's environment otherwise."""
    site_env = {**{k: v for k, v in hub.env.items() if not k.startswith("EGRET_")},
                "EGRET_STATE_DIR": str(state), "EGRET_CONFIG_DIR": str(state / "etc")}

    def egret(*args):
        return subprocess.run([sys.executable, "-m", "appliance.cli", *args], env=site_env, capture_output=True,
                              text=True, timeout=60)
    return egret


def test_enrol_and_dial_home_from_the_command_line(hub, tmp_path):
    token = hub.egret("enrol-token").stdout.strip()
    egret = site_egret(hub, tmp_path / "site")

    out = egret("dial-home")
    assert out.returncode == 1 and "not enrolled" in out.stderr
    out = egret("enrol", token, "--site", "Bad_Name")
    assert out.returncode == 1 and "'site'" in out.stderr and "(HTTP 400)" in out.stderr
    out = egret("enrol", token, "--site", "edge-cli")
    assert out.returncode == 0, out.stderr
    assert "Enrolled as site 'edge-cli'" in out.stdout
    out = egret("dial-home", "--json")
    assert out.returncode == 0, out.stderr
    site = json.loads(out.stdout)["site"]
    # nothing runs in this site's state dir, so every unit reports unhealthy, and the hub shows just that
    assert site["status"] == "degraded" and site["health"] and not any(site["health"].values())
    assert site["inventory"]["units"] == sorted(site["health"]) and site["info"]["hostname"]
    assert egret("enrol", "--forget").returncode == 0
    assert not (tmp_path / "site" / "cluster" / "federation").exists()


def test_a_box_that_cannot_write_fails_with_the_token_unspent(hub, tmp_path):
    token = hub.egret("enrol-token").stdout.strip()
    site = make_settings(tmp_path / "site")
    (site.state_dir / "cluster").write_text("not a directory")
    with pytest.raises(federation_site.EnrolError, match="Cannot write the enrolment .* nothing was sent"):
        federation_site.enrol(site, token, site_name="edge-w")
    (site.state_dir / "cluster").unlink()
    # a leftover directory without hub.json (not an enrolment) is cleared, and the same token still works
    (federation_site.directory(site)).mkdir(parents=True)
    (federation_site.directory(site) / "site.key").write_text("stale")
    record = federation_site.enrol(site, token, site_name="edge-w")
    assert record["site"] == "edge-w"
    assert pki.verifies((federation_site.directory(site) / "site.crt").read_text(),
                        (federation_site.directory(site) / "ca.crt").read_text())
    assert sorted(p.name for p in (site.state_dir / "cluster").iterdir()) == ["federation"]


def test_fleet_label_decommission_and_the_site_goes_standalone(hub, tmp_path):
    """Issue 16 on the real hub: labels over the API, the fleet CLI on the hub, and a decommission the site hears
    at its next report (the library call, then `egret dial-home`)."""
    ca_pem = (hub.state_dir / "federation" / "ca" / "ca.crt").read_text()
    admin = hub.admin_token()
    sites = {}
    for name in ("edge-d1", "edge-d2"):
        egret = site_egret(hub, tmp_path / name)
        assert egret("enrol", hub.egret("enrol-token").stdout.strip(), "--site", name).returncode == 0
        assert egret("dial-home").returncode == 0
        sites[name] = egret
    status, answer = hub_api(hub, "PATCH", "/v1/sites/edge-d1", ca_pem, admin,
                             {"site": {"labels": {"tier": "gold"}, "region": "eu-west"}})
    assert status == 200 and answer["site"]["labels"] == {"tier": "gold"}, answer
    status, answer = hub_api(hub, "PATCH", "/v1/sites/edge-d1", ca_pem, admin, {"site": {"labels": {"-x": "y"}}})
    assert status == 400 and "'site/labels'" in answer["error"]["message"]
    out = hub.egret("fleet", "sites", "--label", "tier=gold", "--json")
    assert out.returncode == 0, out.stderr
    (listed,) = json.loads(out.stdout)
    assert listed["name"] == "edge-d1" and listed["region"] == "eu-west" and listed["version"] == version("egret")
    assert listed["last_contact"].endswith("Z")

    # decommission over the API: the library call hears it, forgets the enrolment and says so
    status, answer = hub_api(hub, "POST", "/v1/sites/edge-d1/decommission", ca_pem, admin)
    assert status == 200 and answer["site"]["status"] == "decommissioned"
    site = make_settings(tmp_path / "edge-d1")
    with pytest.raises(federation_site.Decommissioned) as gone:
        federation_site.report(site, {"identity": True}, {})
    assert str(gone.value) == (f"Site 'edge-d1' was decommissioned by the hub https://127.0.0.1:"
                               f"{hub.ports['federation']}; this box is standalone now.")
    assert gone.value.status == 403 and federation_site.enrolment(site) is None
    assert local_files(site) == []

    # decommission with the hub's CLI: `egret dial-home` on the site prints it and leaves the box standalone
    out = hub.egret("fleet", "decommission", "edge-d2")
    assert out.returncode == 0 and "Site 'edge-d2' decommissioned at" in out.stdout, out.stderr
    out = sites["edge-d2"]("dial-home")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (f"Site 'edge-d2' was decommissioned by the hub https://127.0.0.1:"
                                  f"{hub.ports['federation']}; this box is standalone now.")
    assert not (tmp_path / "edge-d2" / "cluster" / "federation").exists()
    out = sites["edge-d2"]("dial-home")
    assert out.returncode == 1 and "not enrolled" in out.stderr

    # the fleet still shows both, decommissioned; the per-site gauges and the OpenAPI document are served
    status, listed = hub_api(hub, "GET", "/v1/sites?status=decommissioned", ca_pem, admin)
    assert sorted(s["name"] for s in listed["sites"]) >= ["edge-d1", "edge-d2"]
    status, doc = hub_api(hub, "GET", "/v1/openapi.json", ca_pem, "")
    assert status == 200 and "/v1/sites/{name}/decommission" in doc["paths"]
    ctx = ssl.create_default_context(cadata=ca_pem)
    ctx.check_hostname = False
    with urllib.request.urlopen(f"https://127.0.0.1:{hub.ports['federation']}/metrics", context=ctx) as resp:
        text = resp.read().decode()
    assert 'egret_federation_site_up{site="edge-d2"} 0.0' in text
    assert 'egret_federation_site_last_contact_seconds{site="edge-d2"}' in text


def test_a_site_renews_its_certificate_online_and_outlives_the_old_one(short_hub, tmp_path):
    """Issue 16: certificates of 12 s, due for renewal at once (1/3 of the lifetime, 5 min backdating included):
    each report renews, and the site keeps reporting after its first certificate expired."""
    from cryptography import x509
    hub = short_hub
    site = make_settings(tmp_path / "site")
    record = federation_site.enrol(site, hub.egret("enrol-token").stdout.strip(), site_name="edge-r")
    files = federation_site.directory(site)
    ca_pem = (files / "ca.crt").read_text()
    for name in ("site.crt", "site.key"):
        (tmp_path / name).write_bytes((files / name).read_bytes())
    old = (tmp_path / "site.crt", tmp_path / "site.key")
    expires = x509.load_pem_x509_certificate(old[0].read_bytes()).not_valid_after_utc.timestamp()
    assert expires - time.time() <= 13

    answer = federation_site.report(site, {"identity": True}, {})
    assert answer["certificate_renewal"]["renewed"] is True, answer
    assert (files / "site.crt").read_bytes() != old[0].read_bytes()
    assert (files / "site.key").stat().st_mode & 0o777 == 0o600
    assert federation_site.enrolment(site)["certificate_fingerprint"] != record["certificate_fingerprint"]
    # the old certificate is refused from the renewal on, for reports and for renewals
    url = f"{record['hub_url']}/v1/sites/edge-r"
    for path, body in (("/reports", {"health": {}}), ("/certificate", {"csr": pki.new_key_and_csr("site:edge-r")[1]})):
        with pytest.raises(pki.PeerError) as refused:
            pki.request("POST", url + path, ca_pem=ca_pem, body=body, cert=old)
        assert refused.value.status == 403 and "revoked" in str(refused.value)

    # report every 2 s until the first certificate has expired: every report goes through
    while time.time() < expires + 2:
        time.sleep(2)
        assert federation_site.report(site, {"identity": True}, {})["certificate_renewal"]["renewed"] is True
    with pytest.raises(pki.PeerError):
        pki.request("POST", url + "/reports", ca_pem=ca_pem, body={"health": {}}, cert=old)

    # bad renewals over real mTLS: another name in the CSR, garbage, a huge body; the current pair is kept
    current = (files / "site.crt", files / "site.key")
    for body, status, field in (({"csr": pki.new_key_and_csr("site:edge-x")[1]}, 400, "'csr'"),
                                ({"csr": "garbage"}, 400, "'csr'"), ({"csr": "x" * 100_000}, 413, "limit")):
        with pytest.raises(pki.PeerError) as refused:
            pki.request("POST", url + "/certificate", ca_pem=ca_pem, body=body, cert=current)
        assert refused.value.status == status and field in str(refused.value), refused.value
    # `egret dial-home` says when it renewed
    out = site_egret(hub, tmp_path / "site")("dial-home")
    assert out.returncode == 0 and "Renewed the site certificate; valid until" in out.stdout, out.stderr
    status, shown = hub_api(hub, "GET", "/v1/sites/edge-r", ca_pem, hub.admin_token())
    assert status == 200 and shown["site"]["status"] == "degraded"  # nothing runs in the site's state dir
    assert shown["site"]["certificate_fingerprint"] == pki.fingerprint((files / "site.crt").read_text())
