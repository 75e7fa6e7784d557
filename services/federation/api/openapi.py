"""GET /v1/openapi.json (public): an OpenAPI 3.1 document built from the served route table and its schemas."""
from __future__ import annotations

import re

from flask import current_app

from appliance import routes
from appliance.routes import PUBLIC, Call, Route, RouteTable, manager

# 3.1: its Schema Object is JSON Schema, so the routes' jsonschema documents go in unchanged
OPENAPI_VERSION = "3.1.0"

# what the route table does not say: the query strings a handler reads
QUERY = {
    ("GET", "/v1/sites"): [
        {"name": "region", "in": "query", "schema": {"type": "string"}, "description": "only sites of this region"},
        {"name": "status", "in": "query", "schema": {"enum": ["enrolled", "online", "degraded", "offline",
                                                                "decommissioned"]}},
        {"name": "label", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form",
         "explode": True, "description": "key=value, repeatable: every pair must match"},
    ],
}

_REASONS = {200: "OK", 201: "Created", 204: "No content"}


def openapi_path(path: str) -> str:
    """Flask's /v1/sites/<name> as OpenAPI's /v1/sites/{name}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", path)


def operation(route: Route) -> dict:
    op = {"operationId": f"{route.method.lower()}_{route.handler.__name__}",
          "summary": (route.handler.__doc__ or route.handler.__name__.replace("_", " ")).strip().splitlines()[0],
          "x-policy-rule": route.rule,
          "responses": {str(route.status): {"description": _REASONS.get(route.status, "OK")},
                        "default": {"description": "An error: {\"error\": {\"code\", \"title\", \"message\"}}"}}}
    # public routes carry their own credential (none, the token's secret, the site's client certificate)
    op["security"] = [] if route.rule == PUBLIC else [{"token": []}]
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
              for n in re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", route.path)]
    params += QUERY.get(route.key, [])
    if params:
        op["parameters"] = params
    if route.schema is not None:
        op["requestBody"] = {"required": route.body_required,
                             "content": {"application/json": {"schema": route.schema}}}
    return op


def document(declared: list[Route], server_url: str | None = None) -> dict:
    paths: dict = {}
    for route in sorted(declared, key=lambda r: (r.path, r.method)):
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = operation(route)
    doc = {"openapi": OPENAPI_VERSION,
           "info": {"title": "Egret federation hub", "version": "v1",
                    "description": "The fleet API of an Egret federation hub (docs/federation.md)."},
           "paths": paths,
           "components": {"securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}}}}
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


def openapi(call: Call) -> dict:
    """This document."""
    return document(routes.declared(current_app), manager().hub_url)


TABLE = RouteTable("federation_openapi", [Route("GET", "/v1/openapi.json", PUBLIC, openapi)])
