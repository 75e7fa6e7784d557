"""GET /v1/openapi.json: built from the route tables, it covers every /v1 route the hub serves."""
from __future__ import annotations

import re

import jsonschema

from appliance import routes
from services.federation.api import groups, hub, openapi, sites

TABLES = (hub.TABLE, sites.TABLE, groups.TABLE, openapi.TABLE)


def test_every_route_of_every_table_is_in_the_document(client, app):
    doc = client.get("/v1/openapi.json").json
    declared = [r for table in TABLES for r in table.routes]
    # the tables listed here are the ones served (a new table must be added to both)
    assert sorted(r.key for r in declared) == sorted(r.key for r in routes.declared(app))
    for route in declared:
        path = openapi.openapi_path(route.path)
        assert path in doc["paths"], path
        op = doc["paths"][path][route.method.lower()]
        assert op["x-policy-rule"] == route.rule
        assert str(route.status) in op["responses"]
        names = {p["name"] for p in op.get("parameters", ()) if p["in"] == "path"}
        assert names == set(re.findall(r"\{(\w+)\}", path))
        if route.schema is not None:
            assert op["requestBody"]["content"]["application/json"]["schema"] == route.schema
        assert (op["security"] == []) == (route.rule == routes.PUBLIC)
    count = sum(len(methods) for methods in doc["paths"].values())
    assert count == len(declared)


def test_request_schemas_are_valid_json_schema(client):
    doc = client.get("/v1/openapi.json").json
    for methods in doc["paths"].values():
        for op in methods.values():
            if "requestBody" in op:
                jsonschema.Draft202012Validator.check_schema(op["requestBody"]["content"]["application/json"]
                                                             ["schema"])
    assert {p["name"] for p in doc["paths"]["/v1/sites"]["get"]["parameters"]} == {"region", "status", "label"}
    assert doc["components"]["securitySchemes"]["token"]["name"] == "X-Auth-Token"
