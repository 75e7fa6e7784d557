"""Hostile bodies on every JSON route of the federation hub (issue 12: every JSON API): never a 5xx, refusals in
the hub's own (Keystone-style) error format, and nothing changed by a refused request."""
import pytest

from appliance import pki
from appliance.testing import hostile
from services.federation import schemas
from tests.unit.federation.conftest import peer, snapshot


@pytest.fixture
def routes(client, admin, issue, enrolled):
    """(method, path, headers, environ, schema, wrapper, a valid document) per JSON route, as each real caller
    sends it."""
    name, cert, _ = enrolled("edge-1")
    _, secret = issue()
    csr = pki.new_key_and_csr("x")[1]
    client.post("/v1/site-groups", json={"site_group": {"name": "g", "selector": {}}}, headers=admin)
    return [
        ("post", "/v1/enrolment-tokens", admin, {}, schemas.ISSUE_TOKEN, None, {"ttl": 600}),
        ("post", "/v1/enrol", {}, {}, schemas.ENROL, None, {"secret": secret, "site": "edge-2", "csr": csr}),
        ("post", f"/v1/sites/{name}/reports", {}, peer(cert), schemas.REPORT, None, {"health": {"identity": True}}),
        ("patch", f"/v1/sites/{name}", admin, {}, schemas.UPDATE_SITE, "site",
         {"labels": {"tier": "gold"}, "region": "eu"}),
        ("post", "/v1/site-groups", admin, {}, schemas.CREATE_SITE_GROUP, "site_group",
         {"name": "h", "selector": {"tier": "gold"}, "max_parallel": 2, "max_failures": 0}),
        ("patch", "/v1/site-groups/g", admin, {}, schemas.UPDATE_SITE_GROUP, "site_group",
         {"selector": {"tier": "gold"}, "max_parallel": 2}),
    ]


@pytest.mark.parametrize("index", range(6), ids=["enrolment-tokens", "enrol", "reports", "patch-site",
                                                  "create-site-group", "patch-site-group"])
def test_hostile_bodies_are_refused_and_change_nothing(client, routes, index):
    method, path, headers, environ, schema, wrapper, base = routes[index]

    def send(raw):
        return getattr(client, method)(path, data=raw, content_type="application/json", headers=headers,
                                       environ_overrides=environ)

    hostile.fuzz_route(send, "keystone", wrapper, hostile.fields_of(schema, wrapper), base, snapshot)
