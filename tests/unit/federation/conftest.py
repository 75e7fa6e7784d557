"""Federation hub unit fixtures: the hub app on a private SQLite file, admin/reader tokens, fake mTLS peers."""
from __future__ import annotations

import pytest
from cryptography import x509

from appliance import jointoken, pki
from appliance.testing.plugin import make_settings
from appliance.testing.postgres import drop_database, new_database
from services.federation import create_app, models


class FakeTlsSocket:
    """Stands in for gunicorn's TLS socket: getpeercert() as ssl returns it for a verified client certificate."""

    def __init__(self, cert_pem: str | None):
        self.cert_pem = cert_pem

    def getpeercert(self):
        if self.cert_pem is None:
            return None
        cert = x509.load_pem_x509_certificate(self.cert_pem.encode())
        return {"subject": ((("commonName", pki.common_name(self.cert_pem)),),),
                "serialNumber": format(cert.serial_number, "X")}


def peer(cert_pem: str | None) -> dict:
    return {"gunicorn.socket": FakeTlsSocket(cert_pem)}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, tmp_path):
    """The hub's settings: its database on SQLite always, on a private PostgreSQL database with --postgres."""
    if request.param == "sqlite":
        yield make_settings(tmp_path / "state")
        return
    server_url = request.getfixturevalue("postgres_url")
    url = new_database(server_url, "fed")
    yield make_settings(tmp_path / "state", database_url=url)
    if models.database.obj is not None:
        models.database.close()
    drop_database(server_url, url)


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin(mint_token):
    return {"X-Auth-Token": mint_token(user_id="u-admin", project_id="p-admin", roles=["admin", "member", "reader"])}


@pytest.fixture
def member(mint_token):
    return {"X-Auth-Token": mint_token(user_id="u-alice", project_id="p-alice", roles=["member", "reader"])}


@pytest.fixture
def issue(client, admin):
    """Issue an enrol token through the API; returns (token, secret)."""
    def _issue(ttl=None):
        resp = client.post("/v1/enrolment-tokens", json={} if ttl is None else {"ttl": ttl}, headers=admin)
        assert resp.status_code == 201, resp.json
        token = resp.json["token"]
        return token, jointoken.parse("enrol", token)["secret"]
    return _issue


@pytest.fixture
def enrolled(client, issue):
    """Enrol a site: returns (name, certificate pem, key pem)."""
    def _enrol(name="edge-1", info=None):
        _, secret = issue()
        key_pem, csr_pem = pki.new_key_and_csr("anything")
        resp = client.post("/v1/enrol", json={"secret": secret, "site": name, "csr": csr_pem, "info": info or {}})
        assert resp.status_code == 201, resp.json
        return name, resp.json["certificate"], key_pem
    return _enrol


def snapshot() -> list:
    """Every row of every hub table: compared before and after a refused request."""
    models.database.connect(reuse_if_open=True)
    return [sorted(tuple(sorted(r.items())) for r in model.select().dicts()) for model in models.ALL_MODELS]
