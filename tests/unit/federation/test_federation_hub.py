"""The federation hub API: CA, enrolment tokens, enrolment with every kind of bad input, reports, revocation."""
from __future__ import annotations

import base64
import datetime
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance import jointoken, pki, routes
from appliance.config import replace
from appliance.testing import policy_matrix as pm
from services.federation import create_app, models
from services.federation.policies import POLICIES
from tests.unit.federation.conftest import peer, snapshot


def test_ca_is_public_and_pinned_by_tokens(client, issue, settings):
    resp = client.get("/v1/ca")
    assert resp.status_code == 200
    assert pki.fingerprint(resp.json["ca_certificate"]) == resp.json["fingerprint"]
    token, _ = issue()
    body = jointoken.parse("enrol", token)
    assert body["ca_fingerprint"] == resp.json["fingerprint"]
    assert body["hub_url"] == f"https://{settings.public_host}:{settings.port('federation')}"
    # the server certificate gunicorn serves exists and was signed by that CA
    files = pki.tls_files(settings, "federation")
    assert pki.verifies(files["cert"].read_text(), resp.json["ca_certificate"])
    assert files["ca"].read_text() == resp.json["ca_certificate"]


def test_token_stores_only_a_hash_and_honours_ttl(client, admin, settings):
    resp = client.post("/v1/enrolment-tokens", json={"ttl": 120}, headers=admin)
    assert resp.status_code == 201
    body = jointoken.parse("enrol", resp.json["token"])
    assert body["expires_at"] == resp.json["expires_at"]
    expires = datetime.datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    assert 100 < (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds() <= 121
    models.database.connect(reuse_if_open=True)
    row = models.EnrolmentToken.get()
    assert row.secret_hash != body["secret"] and body["secret"] not in str(snapshot())
    assert row.created_by == "u-admin"


def test_public_url_setting_goes_into_the_token(settings, mint_token):
    app = create_app(replace(settings, service={"federation": {"public_url": "https://hub.example.net/"}}))
    token = mint_token(project_id="p-admin", roles=["admin"])
    resp = app.test_client().post("/v1/enrolment-tokens", json={}, headers={"X-Auth-Token": token})
    assert jointoken.parse("enrol", resp.json["token"])["hub_url"] == "https://hub.example.net"


@pytest.mark.parametrize("body, field", [({"ttl": 59}, "ttl"), ({"ttl": 604801}, "ttl"), ({"ttl": "1h"}, "ttl"),
                                         ({"lifetime": 60}, "/")])
def test_bad_ttl_is_refused(client, admin, body, field):
    before = snapshot()
    resp = client.post("/v1/enrolment-tokens", json=body, headers=admin)
    assert resp.status_code == 400
    assert f"'{field}'" in resp.json["error"]["message"]
    assert snapshot() == before


def test_only_admins_issue_tokens_and_list_sites(client, member, mint_token, enrolled):
    enrolled("edge-1")
    before = snapshot()
    assert client.post("/v1/enrolment-tokens", json={}).status_code == 401
    resp = client.post("/v1/enrolment-tokens", json={}, headers=member)
    assert resp.status_code == 403 and "federation:issue_enrolment_token" in resp.json["error"]["message"]
    assert client.get("/v1/sites", headers=member).status_code == 403
    assert client.get("/v1/sites/edge-1", headers=member).status_code == 403
    assert client.delete("/v1/sites/edge-1", headers=member).status_code == 403
    # a project admin of a domain scope is not a cloud admin
    domain_admin = {"X-Auth-Token": mint_token(roles=["admin"], domain_id="default")}
    assert client.get("/v1/sites", headers=domain_admin).status_code == 403
    assert snapshot() == before
    # a system-scoped reader may look but not change
    system_reader = {"X-Auth-Token": mint_token(roles=["reader"], system="all")}
    assert [s["name"] for s in client.get("/v1/sites", headers=system_reader).json["sites"]] == ["edge-1"]
    assert client.delete("/v1/sites/edge-1", headers=system_reader).status_code == 403
    assert client.post("/v1/enrolment-tokens", json={}, headers=system_reader).status_code == 403


def test_enrol_happy_path(client, issue, admin, app):
    _, secret = issue()
    key_pem, csr_pem = pki.new_key_and_csr("whatever-the-site-asks")
    resp = client.post("/v1/enrol", json={"secret": secret, "site": "edge-1", "csr": csr_pem,
                                          "info": {"version": "0.1", "units": ["identity"], "hostname": "box1"}})
    assert resp.status_code == 201, resp.json
    ca_pem = client.get("/v1/ca").json["ca_certificate"]
    assert resp.json["ca_certificate"] == ca_pem
    cert = resp.json["certificate"]
    assert pki.verifies(cert, ca_pem)
    assert pki.common_name(cert) == "site:edge-1"  # the hub names the certificate, not the CSR
    site = resp.json["site"]
    assert site["name"] == "edge-1" and site["status"] == "enrolled" and site["last_seen"] is None
    assert site["info"]["hostname"] == "box1"
    listed = client.get("/v1/sites", headers=admin).json["sites"]
    assert [s["name"] for s in listed] == ["edge-1"]
    assert listed[0]["certificate_fingerprint"] == pki.fingerprint(cert)
    assert 'egret_federation_sites{status="enrolled"} 1.0' in client.get("/metrics").data.decode()


def test_token_is_single_use(client, issue):
    _, secret = issue()
    csr = pki.new_key_and_csr("x")[1]
    assert client.post("/v1/enrol", json={"secret": secret, "site": "edge-1", "csr": csr}).status_code == 201
    before = snapshot()
    resp = client.post("/v1/enrol", json={"secret": secret, "site": "edge-2", "csr": csr})
    assert resp.status_code == 410
    assert "already used" in resp.json["error"]["message"] and "edge-1" in resp.json["error"]["message"]
    assert snapshot() == before


def test_expired_token_is_refused(client, issue):
    _, secret = issue(ttl=60)
    models.database.connect(reuse_if_open=True)
    models.EnrolmentToken.update(expires_at=datetime.datetime(2020, 1, 1)).execute()
    before = snapshot()
    resp = client.post("/v1/enrol", json={"secret": secret, "site": "edge-1", "csr": pki.new_key_and_csr("x")[1]})
    assert resp.status_code == 401
    assert "expired at 2020-01-01T00:00:00Z" in resp.json["error"]["message"]
    assert snapshot() == before


def test_unknown_secret_is_refused(client, issue):
    issue()
    before = snapshot()
    resp = client.post("/v1/enrol", json={"secret": "not-a-secret-of-this-hub-at-all", "site": "edge-1",
                                          "csr": pki.new_key_and_csr("x")[1]})
    assert resp.status_code == 401 and "not known" in resp.json["error"]["message"]
    assert snapshot() == before


@pytest.mark.parametrize("change, field", [
    ({"site": "Edge_1"}, "site"), ({"site": "-edge"}, "site"), ({"site": "a" * 64}, "site"), ({"site": ""}, "site"),
    ({"site": "a.b"}, "site"), ({"site": "edge-1\n"}, "site"),
    ({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nnope\n"}, "csr"), ({"csr": 5}, "csr"),
    ({"secret": None}, "secret"), ({"info": "x"}, "info"), ({"extra": 1}, "/"), ({"site": None}, "site"),
])
def test_malformed_enrol_requests_name_the_field(client, issue, change, field):
    _, secret = issue()
    body = {"secret": secret, "site": "edge-1", "csr": pki.new_key_and_csr("x")[1], **change}
    body = {k: v for k, v in body.items() if v is not None}
    before = snapshot()
    resp = client.post("/v1/enrol", json=body)
    assert resp.status_code == 400, resp.json
    assert f"'{field}'" in resp.json["error"]["message"]
    assert snapshot() == before  # and the token is still unused
    assert client.post("/v1/enrol", json={"secret": secret, "site": "edge-1",
                                          "csr": pki.new_key_and_csr("x")[1]}).status_code == 201


def test_csr_with_a_bad_signature_is_refused(client, issue):
    _, secret = issue()
    _, csr_pem = pki.new_key_and_csr("x")
    der = bytearray(x509.load_pem_x509_csr(csr_pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0xFF  # flip a byte of the signature
    tampered = ("-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)).decode()
                + "-----END CERTIFICATE REQUEST-----\n")
    before = snapshot()
    resp = client.post("/v1/enrol", json={"secret": secret, "site": "edge-1", "csr": tampered})
    assert resp.status_code == 400 and "'csr'" in resp.json["error"]["message"]
    assert snapshot() == before


def test_duplicate_site_name_conflicts_and_keeps_the_token(client, issue, enrolled):
    enrolled("edge-1")
    _, secret = issue()
    before = snapshot()
    resp = client.post("/v1/enrol", json={"secret": secret, "site": "edge-1", "csr": pki.new_key_and_csr("x")[1]})
    assert resp.status_code == 409 and "edge-1" in resp.json["error"]["message"]
    assert snapshot() == before
    assert client.post("/v1/enrol", json={"secret": secret, "site": "edge-2",
                                          "csr": pki.new_key_and_csr("x")[1]}).status_code == 201


def test_two_concurrent_enrolments_with_one_token(app, issue):
    _, secret = issue()
    barrier = threading.Barrier(2)
    results = []

    def run(name):
        client = app.test_client()
        csr = pki.new_key_and_csr("x")[1]
        barrier.wait()
        results.append(client.post("/v1/enrol", json={"secret": secret, "site": name, "csr": csr}).status_code)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("edge-a", "edge-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 410]
    models.database.connect(reuse_if_open=True)
    assert models.Site.select().count() == 1


def test_report_updates_the_site(client, admin, enrolled):
    name, cert, _ = enrolled("edge-1")
    resp = client.post(f"/v1/sites/{name}/reports", json={"health": {"identity": True, "compute": False},
                                                          "inventory": {"servers": 3}}, environ_overrides=peer(cert))
    assert resp.status_code == 200, resp.json
    assert resp.json["next_report_in"] == 60
    # a unit is down: the site is online but degraded
    assert resp.json["site"]["status"] == "degraded" and resp.json["site"]["report_count"] == 1
    client.post(f"/v1/sites/{name}/reports", json={"health": {"identity": True}}, environ_overrides=peer(cert))
    site = client.get(f"/v1/sites/{name}", headers=admin).json["site"]
    assert site["health"] == {"identity": True} and site["inventory"] == {"servers": 3}
    assert site["report_count"] == 2 and site["last_seen"] is not None
    assert 'egret_federation_sites{status="online"} 1.0' in client.get("/metrics").data.decode()


def test_status_goes_offline_after_three_intervals(client, admin, enrolled):
    name, cert, _ = enrolled("edge-1")
    client.post(f"/v1/sites/{name}/reports", json={"health": {}}, environ_overrides=peer(cert))
    models.database.connect(reuse_if_open=True)
    models.Site.update(last_seen=datetime.datetime.utcnow() - datetime.timedelta(seconds=181)).execute()
    assert client.get(f"/v1/sites/{name}", headers=admin).json["site"]["status"] == "offline"


def test_reports_need_the_sites_own_certificate(client, enrolled):
    name, cert, _ = enrolled("edge-1")
    _, other_cert, _ = enrolled("edge-2")
    before = snapshot()
    resp = client.post(f"/v1/sites/{name}/reports", json={"health": {}})
    assert resp.status_code == 401 and "client certificate" in resp.json["error"]["message"]
    resp = client.post(f"/v1/sites/{name}/reports", json={"health": {}}, environ_overrides=peer(other_cert))
    assert resp.status_code == 403 and "site:edge-2" in resp.json["error"]["message"]
    resp = client.post("/v1/sites/edge-3/reports", json={"health": {}}, environ_overrides=peer(cert))
    assert resp.status_code == 403
    assert snapshot() == before


def test_malformed_report_is_refused(client, enrolled):
    name, cert, _ = enrolled("edge-1")
    before = snapshot()
    for body, field in (({"health": {"identity": "yes"}}, "health/identity"), ({}, "health"),
                        ({"health": {}, "inventory": []}, "inventory")):
        resp = client.post(f"/v1/sites/{name}/reports", json=body, environ_overrides=peer(cert))
        assert resp.status_code == 400 and f"'{field}'" in resp.json["error"]["message"], resp.json
    assert snapshot() == before


def test_revoked_site_cannot_report_even_if_reenrolled(client, admin, enrolled):
    name, cert, _ = enrolled("edge-1")
    assert client.delete(f"/v1/sites/{name}", headers=admin).status_code == 204
    assert client.get(f"/v1/sites/{name}", headers=admin).status_code == 404
    resp = client.post(f"/v1/sites/{name}/reports", json={"health": {}}, environ_overrides=peer(cert))
    assert resp.status_code == 403 and "revoked" in resp.json["error"]["message"]
    _, new_cert, _ = enrolled("edge-1")  # the name is free again; the old certificate stays refused
    assert client.post(f"/v1/sites/{name}/reports", json={"health": {}},
                       environ_overrides=peer(cert)).status_code == 403
    assert client.post(f"/v1/sites/{name}/reports", json={"health": {}},
                       environ_overrides=peer(new_cert)).status_code == 200
    assert client.delete("/v1/sites/nowhere", headers=admin).status_code == 404


def test_every_served_route_is_declared(app):
    assert pm.undeclared(app) == (set(), set())


def test_every_policy_rule_is_checked_by_some_route(app):
    # a helper rule (fleet_reader) counts as used when a used rule refers to it ("rule:fleet_reader")
    assert pm.unused_rules(routes.declared(app), POLICIES) == set()

