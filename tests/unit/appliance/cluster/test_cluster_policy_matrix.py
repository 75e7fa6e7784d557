"""The cluster unit's policy table: every route declared, every rule checked, statuses per persona as declared."""
from __future__ import annotations


import pytest

from appliance import routes
from appliance.cluster import membership
from appliance.cluster.service import POLICIES, create_app
from appliance.testing import policy_matrix as pm

R = pm.route
# admin, member, reader, another project's member, no token. The site belongs to the box, not to a project:
# only an admin manages it; the join and heartbeat routes answer without a token (a joining node has none, a
# member proves itself with its node certificate), refusing the empty bodies sent here on their own grounds.
MATRIX = [
    R("GET /v1/cluster", "200 200 200 200 200"),
    R("GET /v1/cluster/ca", "200 200 200 200 200"),
    R("POST /v1/cluster/join", "400 400 400 400 400"),
    R("POST /v1/cluster/join/abort", "400 400 400 400 400", note="the token's secret, not a Keystone token"),
    R("POST /v1/cluster/heartbeat", "401 401 401 401 401", note="node certificate, not a token"),
    R("POST /v1/cluster/join-tokens", "201 403 403 403 401"),
    R("GET /v1/cluster/nodes", "200 403 403 403 401"),
    R("DELETE /v1/cluster/nodes/<name>", "404 403 403 403 401", make=lambda world: {"name": "nosuch"}),
]


@pytest.fixture
def founder(settings):
    app = create_app(settings, background=False)
    membership.found(settings, "lyon")
    with app.app_context():
        yield app


def test_every_served_cluster_route_is_declared(founder):
    assert pm.undeclared(founder) == (set(), set())


def test_every_cluster_rule_is_checked_by_some_route(founder):
    assert pm.unused_rules(routes.declared(founder), POLICIES) == set()



def test_the_matrix_agrees_with_the_declared_rules(founder):
    assert pm.agrees_with_rules(MATRIX, routes.declared(founder), founder.extensions["egret.policy"]) == []
    assert {r.key for r in MATRIX} == {r.key for r in routes.declared(founder)}


def test_statuses_per_persona(founder, mint_token):
    client = founder.test_client()
    tokens = pm.persona_tokens(mint_token)

    def send(persona, method, path, body):
        headers = {"X-Auth-Token": tokens[persona]} if tokens[persona] else {}
        resp = client.open(path, method=method, json=body if body is not None else {}, headers=headers)
        return resp.status_code, resp.get_data(as_text=True)

    assert pm.mismatches(pm.run(MATRIX, None, send)) == ""
