"""appliance.bodies in the shared factory: the body limit whatever the framing, and JSON that no service can store
refused with a 400 naming the field (the sample service answers in Nova's format)."""
import io
import json

import pytest

from appliance import bodies, errors
from appliance.gworker import app_for_port
from appliance.testing.sample import create_app


@pytest.fixture
def app(settings):
    settings.max_request_body = 200000
    return create_app(settings)


def _chunked(client, path, data, token=None):
    """What gunicorn hands the app for a chunked body: the decoded stream, no Content-Length."""
    headers = {"Transfer-Encoding": "chunked", "Content-Type": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    return client.post(path, input_stream=io.BytesIO(data), headers=headers)


def test_chunked_body_over_the_limit_is_413_before_authentication(app):
    resp = _chunked(app.test_client(), "/v1/p-test/things", b"[" * 300000)
    assert resp.status_code == 413
    assert resp.get_json()["overLimit"]["code"] == 413


def test_chunked_body_under_the_limit_reaches_the_view(app, mint_token):
    doc = {"thing": {"name": "ok", "size": 3}}
    resp = _chunked(app.test_client(), "/v1/p-test/things", json.dumps(doc).encode(), mint_token())
    assert resp.status_code == 201 and resp.get_json() == doc


def test_content_length_body_over_the_limit_is_413(app, mint_token):
    resp = app.test_client().post("/v1/p-test/things", data=b"x" * 200001, content_type="application/json",
                                  headers={"X-Auth-Token": mint_token()})
    assert resp.status_code == 413 and "limit is 200000" in resp.get_json()["overLimit"]["message"]


@pytest.mark.parametrize("raw,message", [
    (b"[" * 50000 + b"]" * 50000, "nested deeper than 32"),
    (b'{"thing": {"name": "a\\ud800"}}', "field 'thing/name': the string is not valid Unicode"),
    (b'{"thing": {"na\\u0000me": "a"}}', "NUL characters"),
    (b'{"thing": {"name": "a", "size": 9223372036854775808}}', "field 'thing/size': 9223372036854775808 is out"),
    (b'{"thing": {"name": "a", "size": -9223372036854775809}}', "out of range"),
    (b'{"thing": {"name": "a", "size": NaN}}', "NaN is not valid JSON"),
    (b'{"thing": {"name": "a", "size": 1e999}}', "field 'thing/size': the number is out of range"),
    (b'{"thing": {"name": "\xff"}}', "Malformed JSON"),
])
def test_json_no_service_can_store_is_refused(app, mint_token, raw, message):
    resp = app.test_client().post("/v1/p-test/things", data=raw, content_type="application/json",
                                  headers={"X-Auth-Token": mint_token()})
    assert resp.status_code == 400, resp.data
    if message:
        assert message in resp.get_json()["badRequest"]["message"]


def test_limits_of_check_values():
    bodies.check_values({"a": 2 ** 63 - 1, "b": -2 ** 63, "c": "é\U0001f600", "d": [[[]]]})
    nested = 0
    for _ in range(bodies.MAX_DEPTH):
        nested = [nested]
    bodies.check_values(nested)
    with pytest.raises(errors.BadRequest, match="nested deeper"):
        bodies.check_values([nested])


def test_app_for_port_finds_each_api_behind_a_dispatcher(app):
    class Storage:  # services.storage.PortDispatcher's shape
        apps, default = {8: "volume", 9: "s3"}, "image"
    assert app_for_port(Storage(), 9) == "s3" and app_for_port(Storage(), 1) == "image"

    class Compute:  # services.compute.PortDispatcher's shape
        api, metadata, metadata_port = "api", "metadata", "8775"
    assert app_for_port(Compute(), 8775) == "metadata" and app_for_port(Compute(), 8774) == "api"
    assert app_for_port(app, 1) is app
