"""Hostile bodies on every JSON route of the federation hub (issue 12: every JSON API): never a 5xx, refusals in
the hub's own (Keystone-style) error format, and nothing changed by a refused request."""
import pytest

from appliance import pki
from appliance.testing import hostile
from services.federation import schemas
from tests.unit.federation.conftest import peer, snapshot


@pytest.fixture
def routes(client, admin, issue, enrolled):
    """(path, headers, environ, schema, a valid document) per JSON route, as each real caller sends it."""
    name, cert, _ = enrolled("edge-1")
    _, secret = issue()
    csr = pki.new_key_and_csr("x")[1]
    return [
        ("/v1/enrolment-tokens", admin, {}, schemas.ISSUE_TOKEN, {"ttl": 600}),
        ("/v1/enrol", {}, {}, schemas.ENROL, {"secret": secret, "site": "edge-2", "csr": csr}),
        (f"/v1/sites/{name}/reports", {}, peer(cert), schemas.REPORT, {"health": {"identity": True}}),
    ]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["enrolment-tokens", "enrol", "reports"])
def test_hostile_bodies_are_refused_and_change_nothing(client, routes, index):
    path, headers, environ, schema, base = routes[index]

    def send(raw):
        return client.post(path, data=raw, content_type="application/json", headers=headers,
                           environ_overrides=environ)

    hostile.fuzz_route(send, "keystone", None, hostile.fields_of(schema, None), base, snapshot)
