"""Storage test helpers and fixtures (the conftests re-export the fixtures): apps over fakes, tokens, S3 signing."""
from __future__ import annotations

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from appliance.testing.plugin import make_settings
from services.storage import create_apps
from services.storage.drivers.fake import FakeDriver, FakeTarget
from services.storage.s3.credentials import Credential, FakeCredentials  # noqa: F401 (re-exported)

ALICE = Credential("AKALICE0000000000001", "alice-secret-0123456789", "p-alice", "u-alice")
BOB = Credential("AKBOB00000000000000002", "bob-secret-0123456789", "p-bob", "u-bob")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, tmp_path):
    """SQLite always; also a fresh PostgreSQL database per test with --postgres."""
    from appliance.testing.postgres import new_database
    extra = {}
    if request.param == "postgres":
        extra["database_url"] = new_database(request.getfixturevalue("postgres_url"), "storage")
    return make_settings(tmp_path / "state", service={"storage": {"synchronous": True}}, **extra)


@pytest.fixture
def driver():
    return FakeDriver()


@pytest.fixture
def iscsi_target():
    """The iSCSI target the apps export through (the fake driver's volumes are not files)."""
    return FakeTarget("192.0.2.10:3260", paths_must_exist=False)


@pytest.fixture
def creds():
    return FakeCredentials(ALICE, BOB)


@pytest.fixture
def apps(settings, driver, creds, iscsi_target):
    return create_apps(settings, driver=driver, credentials=creds, target=iscsi_target)


@pytest.fixture
def image_client(apps):
    return apps["image"].test_client()


@pytest.fixture
def volume_client(apps):
    return apps["volume"].test_client()


@pytest.fixture
def s3_client(apps):
    return apps["s3"].test_client()


@pytest.fixture
def storage(apps):
    return apps["image"].extensions["egret.manager"]


@pytest.fixture
def tokens(mint_token):
    """Headers for three personas: alice (member of p-alice), bob (member of p-bob), admin."""
    return {
        "alice": {"X-Auth-Token": mint_token(user_id="u-alice", project_id="p-alice", roles=["member", "reader"])},
        "bob": {"X-Auth-Token": mint_token(user_id="u-bob", project_id="p-bob", roles=["member", "reader"])},
        "reader": {"X-Auth-Token": mint_token(user_id="u-r", project_id="p-alice", roles=["reader"])},
        "admin": {"X-Auth-Token": mint_token(user_id="u-admin", project_id="p-admin",
                                             roles=["admin", "member", "reader"])},
    }


class S3Signer:
    """Signs requests exactly as botocore does, then sends them through the Flask test client."""

    def __init__(self, client):
        self.client = client

    def request(self, method, path, body=b"", headers=None, cred=ALICE, query="", sign=True, **kw):
        url = "http://localhost" + path + (("?" + query) if query else "")
        req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
        if sign:
            S3SigV4Auth(Credentials(cred.access, cred.secret), "s3", "us-east-1").add_auth(req)
        return self.client.open(path + (("?" + query) if query else ""), method=method, data=body,
                                headers=dict(req.headers.items()), **kw)

    def presign(self, method, path, cred=ALICE, expires=60, query=""):
        url = "http://localhost" + path + (("?" + query) if query else "")
        req = AWSRequest(method=method, url=url)
        S3SigV4QueryAuth(Credentials(cred.access, cred.secret), "s3", "us-east-1", expires=expires).add_auth(req)
        return req.url[len("http://localhost"):]


@pytest.fixture
def s3(s3_client):
    return S3Signer(s3_client)


def db_state():
    """Every storage row, for asserting that a rejected request changed nothing."""
    from services.storage import models
    return {m.__name__: sorted((tuple(sorted((k, str(v)) for k, v in row.items()))
                                for row in m.select().dicts()), key=str) for m in models.ALL}


def files_under(path):
    import os
    return sorted(os.path.relpath(os.path.join(r, f), path) for r, _, fs in os.walk(path) for f in fs)


def qcow2_bytes(tmp_path, size="1M", extra=()):
    import subprocess
    p = tmp_path / f"img-{len(list(tmp_path.iterdir()))}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *extra, str(p), size], check=True)
    return p.read_bytes()


# --- Cinder helpers -------------------------------------------------------------------------------------
V = "/v3/p-alice"
B = "/v3/p-bob"


def assert_cinder_error(r, status, words):
    assert r.status_code == status, (r.status_code, r.data)
    (fault, body), = r.json.items()
    assert body["code"] == status and words.lower() in body["message"].lower(), body
    return fault


def create(client, h, base=V, **volume):
    r = client.post(f"{base}/volumes", json={"volume": {"size": 1, "name": "v", **volume}}, headers=h)
    assert r.status_code == 202, r.json
    return r.json["volume"]
