"""The shared app factory: auth middleware, policy, error formats, request ids, health and metrics."""
import pytest

from appliance.revocation import RevocationList
from appliance.testing.sample import create_app


@pytest.fixture
def client(settings):
    return create_app(settings).test_client()


def test_public_and_request_id(client):
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.headers["X-Openstack-Request-Id"].startswith("req-")
    assert resp.headers["X-Openstack-Request-Id"] != client.get("/").headers["X-Openstack-Request-Id"]


def test_missing_and_bad_token_are_401_with_www_authenticate(client):
    for headers in ({}, {"X-Auth-Token": "garbage"}):
        resp = client.get("/v1/p1/things", headers=headers)
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"].startswith('Keystone uri="http://127.0.0.1:')
        assert resp.json["unauthorized"]["code"] == 401


def test_expired_and_revoked_tokens(client, mint_token, settings):
    expired = mint_token(expires_in=-5)
    assert client.get("/v1/p-test/things", headers={"X-Auth-Token": expired}).status_code == 401
    token = mint_token(user_id="u9")
    assert client.get("/v1/p-test/things", headers={"X-Auth-Token": token}).status_code == 200
    RevocationList(settings.revocation_file, 3600).revoke(user_id="u9")
    resp = client.get("/v1/p-test/things", headers={"X-Auth-Token": token})
    assert resp.status_code == 401
    assert "revoked" in resp.json["unauthorized"]["message"]


def test_policy_isolation_and_reader(client, mint_token):
    member = mint_token(project_id="pA", roles=["member", "reader"])
    reader = mint_token(project_id="pA", roles=["reader"])
    assert client.get("/v1/pA/things", headers={"X-Auth-Token": member}).status_code == 200
    resp = client.get("/v1/pB/things", headers={"X-Auth-Token": member})
    assert resp.status_code == 403
    assert resp.json["forbidden"]["message"].endswith("sample:read.")
    body = {"thing": {"name": "a"}}
    assert client.post("/v1/pA/things", json=body, headers={"X-Auth-Token": reader}).status_code == 403
    assert client.post("/v1/pA/things", json=body, headers={"X-Auth-Token": member}).status_code == 201


@pytest.mark.parametrize("data,field", [
    (b"{not json", "Malformed JSON"),
    (b'{"thing": {}}', "'thing/name'"),
    (b'{"thing": {"name": 5}}', "'thing/name'"),
    (b'{"thing": {"name": "x", "size": "big"}}', "'thing/size'"),
    (b'{"thing": {"name": "x", "colour": 1}}', "'thing'"),
    (b"", "empty"),
])
def test_bad_bodies_name_the_field(client, mint_token, data, field):
    token = mint_token(project_id="pA")
    resp = client.post("/v1/pA/things", data=data, headers={"X-Auth-Token": token,
                                                             "Content-Type": "application/json"})
    assert resp.status_code == 400
    assert field in resp.json["badRequest"]["message"]


def test_oversize_body_is_413(client, mint_token, settings):
    token = mint_token(project_id="pA")
    resp = client.post("/v1/pA/things", data=b"x" * (settings.max_request_body + 1),
                       headers={"X-Auth-Token": token, "Content-Type": "application/json"})
    assert resp.status_code == 413
    assert resp.json["overLimit"]["code"] == 413


def test_unknown_route_and_method_use_the_api_format(client):
    assert client.get("/nope").json == {"itemNotFound": {"code": 404, "message": "The resource could not be found."}}
    assert client.delete("/").status_code == 405


def test_healthz_and_metrics(client, mint_token):
    assert client.get("/healthz").json["status"] == "ok"
    client.get("/v1/pA/things", headers={"X-Auth-Token": mint_token(project_id="pA")})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'egret_http_requests_total{endpoint="/v1/<project_id>/things",method="GET",service="sample",status="200"} 1.0' in text
    assert "egret_http_request_duration_seconds_bucket" in text
