"""POST /v1/sites/<name>/certificate: online renewal authorised by the site's current certificate; the hub's
certificate lifetime setting; the signing key (GET /v1/signing-key, in the enrolment answer)."""
from __future__ import annotations

import datetime
import os

import pytest
from cryptography import x509

from appliance import federation_bundle, pki
from appliance.config import replace
from services.federation import create_app, models
from services.federation.bundles import hub_signing_key
from tests.unit.federation.conftest import peer, snapshot


def renew(client, name, cert, csr=None, **kw):
    body = kw.pop("json") if "json" in kw else {"csr": csr or pki.new_key_and_csr(f"site:{name}")[1]}
    return client.post(f"/v1/sites/{name}/certificate", json=body, environ_overrides=peer(cert), **kw)


def report(client, name, cert):
    return client.post(f"/v1/sites/{name}/reports", json={"health": {}}, environ_overrides=peer(cert))


def test_renewal_issues_a_new_certificate_and_revokes_the_old_at_once(client, enrolled, admin, settings):
    name, old, _ = enrolled("edge-1")
    key_pem, csr_pem = pki.new_key_and_csr("site:edge-1")
    resp = renew(client, name, old, csr_pem)
    assert resp.status_code == 200, resp.json
    new = resp.json["certificate"]
    assert pki.common_name(new) == "site:edge-1" and pki.verifies(new, resp.json["ca_certificate"])
    cert = x509.load_pem_x509_certificate(new.encode())
    assert resp.json["expires_at"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert resp.json["site"]["certificate_fingerprint"] == pki.fingerprint(new)
    # the new certificate reports; the old one is refused from the answer on (no grace)
    assert report(client, name, new).status_code == 200
    resp = report(client, name, old)
    assert resp.status_code == 403 and "revoked" in resp.json["error"]["message"]
    resp = renew(client, name, old)
    assert resp.status_code == 403 and "revoked" in resp.json["error"]["message"]
    # and the new one renews again
    assert renew(client, name, new).status_code == 200
    assert client.get("/v1/sites/edge-1", headers=admin).json["site"]["status"] == "online"


def _csr_without_cn():
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("body, status, words", [
    ({"csr": pki.new_key_and_csr("site:edge-2")[1]}, 400, ["'csr'", "'site:edge-2'", "not 'site:edge-1'"]),
    ({"csr": pki.new_key_and_csr("edge-1")[1]}, 400, ["'csr'", "not 'site:edge-1'"]),
    ({"csr": "-----BEGIN CERTIFICATE REQUEST-----\ngarbage\n-----END CERTIFICATE REQUEST-----\n"}, 400,
     ["'csr'", "not a PEM certificate signing request"]),
    ({"csr": "x" * 16385}, 400, ["'csr'"]),
    ({"csr": 7}, 400, ["'csr'"]),
    ({}, 400, ["'csr'"]),
    ({"csr": "x", "key": "y"}, 400, ["'key'"]),
    ({"csr": "x" * (70 * 1024)}, 413, ["limit"]),
])
def test_bad_renewals_are_refused_and_change_nothing(client, enrolled, body, status, words):
    name, cert, _ = enrolled("edge-1")
    before = snapshot()
    resp = renew(client, name, cert, json=body)
    assert resp.status_code == status, resp.json
    for word in words:
        assert word in resp.json["error"]["message"], resp.json
    assert snapshot() == before
    assert report(client, name, cert).status_code == 200  # the current certificate still works


def test_no_csr_name_is_refused_naming_the_field(client, enrolled):
    name, cert, _ = enrolled("edge-1")
    before = snapshot()
    resp = renew(client, name, cert, _csr_without_cn())
    assert resp.status_code == 400 and "'csr'" in resp.json["error"]["message"]
    assert snapshot() == before


def test_renewal_needs_the_sites_own_current_certificate(client, enrolled, admin):
    name, cert, _ = enrolled("edge-1")
    _, other, _ = enrolled("edge-2")
    before = snapshot()
    resp = renew(client, name, None)
    assert resp.status_code == 401 and "client certificate" in resp.json["error"]["message"]
    resp = renew(client, name, other)
    assert resp.status_code == 403 and "'site:edge-2', not site 'edge-1'" in resp.json["error"]["message"]
    # the site's name in the path with another site's certificate and CSR for it: still refused
    resp = renew(client, "edge-2", cert, pki.new_key_and_csr("site:edge-2")[1])
    assert resp.status_code == 403
    # the credential is checked before the body: garbage from a stranger is a 401, not a 400
    resp = client.post(f"/v1/sites/{name}/certificate", data="{", content_type="application/json")
    assert resp.status_code == 401
    assert snapshot() == before


def test_a_decommissioned_or_revoked_site_cannot_renew(client, enrolled, admin):
    name, cert, _ = enrolled("edge-1")
    assert client.post("/v1/sites/edge-1/decommission", headers=admin).status_code == 200
    before = snapshot()
    resp = renew(client, name, cert)
    assert resp.status_code == 403 and "was decommissioned by this hub" in resp.json["error"]["message"]
    assert snapshot() == before
    name, cert, _ = enrolled("edge-2")
    assert client.delete("/v1/sites/edge-2", headers=admin).status_code == 204
    before = snapshot()
    resp = renew(client, name, cert)
    assert resp.status_code == 403 and "revoked" in resp.json["error"]["message"]
    assert snapshot() == before


def test_site_cert_days_sets_the_lifetime(settings, mint_token):
    app = create_app(replace(settings, service={"federation": {"site_cert_days": 0.01}}))
    client = app.test_client()
    admin = {"X-Auth-Token": mint_token(project_id="p-admin", roles=["admin"])}
    from appliance import jointoken
    secret = jointoken.parse("enrol", client.post("/v1/enrolment-tokens", json={}, headers=admin).json["token"])[
        "secret"]
    resp = client.post("/v1/enrol", json={"secret": secret, "site": "edge-1",
                                          "csr": pki.new_key_and_csr("x")[1]})
    assert resp.status_code == 201
    cert = x509.load_pem_x509_certificate(resp.json["certificate"].encode())
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(seconds=800) < left <= datetime.timedelta(seconds=865)
    resp = renew(client, "edge-1", resp.json["certificate"])
    cert = x509.load_pem_x509_certificate(resp.json["certificate"].encode())
    assert cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc) <= datetime.timedelta(seconds=865)


@pytest.mark.parametrize("bad", [0, -1, "soon", 4000])
def test_a_bad_site_cert_days_stops_the_hub(settings, bad):
    with pytest.raises(ValueError, match="site_cert_days"):
        create_app(replace(settings, service={"federation": {"site_cert_days": bad}}))


def test_the_signing_key_is_public_pinned_in_the_enrolment_answer_and_kept(client, issue, settings):
    resp = client.get("/v1/signing-key")
    assert resp.status_code == 200
    document = resp.json["signing_key"]
    _, key_id = federation_bundle.load_public_key(document)
    assert document["key_id"] == key_id and document["algorithm"] == "ed25519"
    _, secret = issue()
    answer = client.post("/v1/enrol", json={"secret": secret, "site": "edge-1",
                                            "csr": pki.new_key_and_csr("x")[1]}).json
    assert answer["signing_key"] == document
    path = settings.state_dir / "federation" / "signing" / "signing.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    # the same key after a restart; the private key is in no answer and no repr
    assert hub_signing_key(settings).public_document() == document
    assert "PRIVATE" not in resp.get_data(as_text=True) and "PRIVATE" not in repr(hub_signing_key(settings))
    assert os.path.getsize(path) > 0


def test_openapi_lists_the_new_routes(client):
    paths = client.get("/v1/openapi.json").json["paths"]
    assert paths["/v1/sites/{name}/certificate"]["post"]["security"] == []
    assert "csr" in paths["/v1/sites/{name}/certificate"]["post"]["requestBody"]["content"]["application/json"][
        "schema"]["properties"]
    assert "get" in paths["/v1/signing-key"]
    models.database.connect(reuse_if_open=True)


def test_two_concurrent_renewals_with_one_certificate(app, enrolled):
    import threading
    name, cert, _ = enrolled("edge-1")
    barrier = threading.Barrier(2)
    results = []

    def run():
        client = app.test_client()
        csr = pki.new_key_and_csr("site:edge-1")[1]
        barrier.wait()
        results.append(renew(client, name, cert, csr))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [200, 403]
    (won,) = [r for r in results if r.status_code == 200]
    models.database.connect(reuse_if_open=True)
    row = models.Site.get(models.Site.name == name)
    assert row.cert_fingerprint == pki.fingerprint(won.json["certificate"])
    assert models.RevokedCertificate.select().count() == 1
