"""Hostile bodies on every JSON route of the cluster unit (issue 12: every JSON API): never a 5xx, refusals in
its own (Keystone-style) error format, and nothing changed by a refused request."""
import pytest

from appliance import jointoken, pki
from appliance.cluster import membership, models
from appliance.cluster import versions
from appliance.cluster.service import ABORT_SCHEMA, HEARTBEAT_SCHEMA, JOIN_SCHEMA, TOKEN_SCHEMA, create_app
from appliance.testing import hostile
from tests.unit.federation.conftest import peer


@pytest.fixture
def founder(settings, mint_token):
    app = create_app(settings, background=False)
    membership.found(settings, "lyon")
    with app.app_context():
        secret = jointoken.parse("join", membership.issue_token(settings, 600)["token"])["secret"]
        node = membership.redeem(settings, secret, "n1", "10.0.0.5:8120", pki.new_key_and_csr("n1")[1])
        fresh = jointoken.parse("join", membership.issue_token(settings, 600)["token"])["secret"]
        admin = {"X-Auth-Token": mint_token(user_id="u-admin", project_id="p-admin", roles=["admin", "member"])}
        yield app.test_client(), admin, node["certificate"], fresh


ROUTES = ["join-tokens", "join", "join-abort", "heartbeat"]


@pytest.mark.parametrize("route", ROUTES)
def test_hostile_bodies_are_refused_and_change_nothing(founder, route):
    client, admin, cert, secret = founder
    path, headers, environ, schema, base = {
        "join-tokens": ("/v1/cluster/join-tokens", admin, {}, TOKEN_SCHEMA, {"ttl": 600}),
        "join": ("/v1/cluster/join", {}, {}, JOIN_SCHEMA,
                 {"secret": secret, "name": "n2", "address": "10.0.0.6:8120", "csr": pki.new_key_and_csr("n2")[1],
                  "version": versions.current()}),
        "join-abort": ("/v1/cluster/join/abort", {}, {}, ABORT_SCHEMA, {"secret": secret, "name": "n2"}),
        "heartbeat": ("/v1/cluster/heartbeat", {}, peer(cert), HEARTBEAT_SCHEMA, {"health": {"compute": True}}),
    }[route]

    def send(raw):
        return client.post(path, data=raw, content_type="application/json", headers=headers,
                           environ_overrides=environ)

    hostile.fuzz_route(send, "keystone", None, hostile.fields_of(schema, None), base,
                       lambda: hostile.db_rows(models.database))
