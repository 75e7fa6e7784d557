"""Declared routes: the rule is enforced before the handler, loads hide resources, attribute rules, public routes."""
import pathlib
import re

import pytest
from flask import jsonify

from appliance import routes
from appliance.app import make_app
from appliance.errors import NotFound
from appliance.routes import ANY_TOKEN, PUBLIC, Route, RouteTable

THINGS = {"t1": {"id": "t1", "project_id": "pA", "name": "one"}}
RULES = {
    "thing:read": "rule:admin_required or project_id:%(project_id)s",
    "thing:write": "rule:admin_required or (role:member and project_id:%(project_id)s)",
    "thing:secret": "rule:admin_required",
}
SCHEMA = {"type": "object", "required": ["thing"],
          "properties": {"thing": {"type": "object", "properties": {"name": {"type": "string"}}}}}
calls = []


def _load(call):
    if call.args["tid"] not in THINGS:
        raise NotFound(f"Thing {call.args['tid']} could not be found.")
    return THINGS[call.args["tid"]]


def show(call):
    calls.append("show")
    return call.resource


def create(call):
    calls.append("create")
    return {"id": "new", **call.body["thing"]}


def versions(call):
    return jsonify(versions=["v1"])


def whoami(call):
    return jsonify(project=call.project_id)


TABLE = RouteTable("things", [
    Route("GET", "/", PUBLIC, versions),
    Route("GET", "/whoami", ANY_TOKEN, whoami),
    Route("GET", "/things/<tid>", "thing:read", show, load=_load, render=lambda t: {"thing": t}),
    Route("POST", "/things", "thing:write", create, schema=SCHEMA, fields={"secret:": "thing:secret"},
          target=lambda call: {"project_id": call.body["thing"].get("project_id") or call.project_id},
          render=lambda t: {"thing": t}, status=201),
])


@pytest.fixture
def client(settings):
    app = make_app("things", settings, policies=RULES)
    routes.register(app, TABLE)
    calls.clear()
    return app.test_client()


def test_public_route_needs_no_token_and_any_token_route_needs_one(client, mint_token):
    assert client.get("/").status_code == 200
    assert client.get("/whoami").status_code == 401
    assert client.get("/whoami", headers={"X-Auth-Token": mint_token(project_id="pZ")}).json == {"project": "pZ"}


def test_load_then_enforce_on_the_resources_project(client, mint_token):
    own = {"X-Auth-Token": mint_token(project_id="pA", roles=["reader"])}
    other = {"X-Auth-Token": mint_token(project_id="pB")}
    assert client.get("/things/t1", headers=own).json == {"thing": THINGS["t1"]}
    resp = client.get("/things/t1", headers=other)
    assert resp.status_code == 403 and "thing:read" in resp.get_data(as_text=True)
    assert client.get("/things/nope", headers=own).status_code == 404
    assert calls == ["show"]


def test_create_checks_rule_schema_and_attribute_rules_before_the_handler(client, mint_token):
    member = {"X-Auth-Token": mint_token(project_id="pA")}
    reader = {"X-Auth-Token": mint_token(project_id="pA", roles=["reader"])}
    admin = {"X-Auth-Token": mint_token(project_id="pX", roles=["admin", "member"])}
    assert client.post("/things", json={"thing": {"name": "a"}}, headers=reader).status_code == 403
    assert client.post("/things", json={"thing": {"name": 5}}, headers=member).status_code == 400
    resp = client.post("/things", json={"thing": {"name": "a", "secret:x": 1}}, headers=member)
    assert resp.status_code == 403 and "thing:secret" in resp.get_data(as_text=True)
    assert client.post("/things", json={"thing": {"name": "a", "project_id": "pB"}}, headers=member).status_code == 403
    assert calls == []
    resp = client.post("/things", json={"thing": {"name": "a", "secret:x": 1}}, headers=admin)
    assert resp.status_code == 201 and resp.json["thing"]["name"] == "a"
    assert calls == ["create"]


def test_declared_table_matches_what_is_served(client):
    app = client.application
    served = {(m, r.rule) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}}
    declared = {r.key for r in routes.declared(app)}
    assert declared <= served
    rows = routes.policy_table(routes.declared(app), app.extensions["egret.policy"].texts)
    post = next(r for r in rows if r["method"] == "POST")
    assert post["check"] == RULES["thing:write"] and post["fields"] == {"secret:": RULES["thing:secret"]}
    assert {r["check"] for r in rows if r["path"] == "/"} == {"public"}


def test_access_is_enforced_only_by_dispatch():
    """No service, unit or wizard calls policy.enforce itself: every route's check is in its declared row."""
    root = pathlib.Path(routes.__file__).parent.parent
    allowed = {root / "appliance" / "routes.py", root / "appliance" / "policy.py"}
    callers = [str(p.relative_to(root)) for top in ("appliance", "services", "firstboot")
               for p in (root / top).rglob("*.py") if p not in allowed and re.search(r"\benforce\(", p.read_text())]
    assert callers == []
