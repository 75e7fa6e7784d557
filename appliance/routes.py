"""Declared API routes: each is data (method, path, policy rule, schema, handler, renderer); access is checked here."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Mapping

from flask import Blueprint, Flask, current_app, g, jsonify, request

from appliance import policy
from appliance.app import json_body, public
from appliance.errors import Forbidden

# Rules that are not policy rules, named so the table says why a route has no check.
PUBLIC = "@public"          # no token at all: version discovery, token issue, S3's own signature auth
ANY_TOKEN = "@any-token"    # any valid token; the handler limits what it shows (e.g. a token validating itself)
NON_POLICY = (PUBLIC, ANY_TOKEN)


def manager():
    """The service's manager (every service stores it under one key)."""
    return current_app.extensions["egret.manager"]


class Call:
    """One request as the handler sees it: path arguments, the (lazily parsed, validated) body, the resource."""

    def __init__(self, route: "Route", args: dict):
        self.route = route
        self.args = args
        self.resource: Any = None
        self._body: Any = _UNPARSED

    @property
    def body(self) -> Any:
        if self._body is _UNPARSED:
            self._body = json_body(self.route.schema, required=self.route.body_required)
        return self._body

    @property
    def context(self):
        """The validated token (TokenData); None on public routes."""
        return g.get("context")

    @property
    def project_id(self) -> str | None:
        ctx = self.context
        return ctx.project_id if ctx is not None else None

    @property
    def query(self):
        return request.args

    def check(self, rule: str, target: dict | None = None) -> bool:
        """A secondary decision inside a handler (e.g. what a list shows); the route's own rule is enforced already."""
        return policy.check(rule, target if target is not None else self.default_target())

    def default_target(self) -> dict:
        return {"project_id": self.project_id, **self.args}


_UNPARSED = object()


def target_of(resource: Any) -> dict:
    """The policy target of a loaded resource: its project (and domain/user where it has them)."""
    out = {}
    for key in ("project_id", "tenant_id", "domain_id", "user_id", "owner"):
        value = resource.get(key) if isinstance(resource, Mapping) else getattr(resource, key, None)
        if value is not None:
            out[key] = value
    if "project_id" not in out and "tenant_id" in out:
        out["project_id"] = out["tenant_id"]
    return out


@dataclasses.dataclass(frozen=True)
class Route:
    """One row of a service's API table.

    - `rule`: the policy rule enforced before the handler runs (or PUBLIC / ANY_TOKEN).
    - `load(call)`: fetch the resource the path names (raise NotFound to hide it); the target is then its project.
    - `target(call)`: an explicit policy target instead (may read call.body, e.g. a create's project_id); with
      `load` it runs after it and may read call.resource (e.g. a shared resource is read as the caller's own).
    - `fields`: body attribute -> rule; each attribute present in the body is enforced too (a key ending in ':'
      matches every attribute with that prefix, e.g. 'provider:').
    - `unset`: body values that count as not set for `fields` (Neutron checks an attribute only when it is set
      explicitly: a member's `"shared": false` is no operator's knob).
    - `render(result)`: turns the handler's result into the response body; without it the handler's return is
      the response.
    - `checks`: rules the handler decides itself with call.check (e.g. who may make an image public); listed so
      the table names every rule a route can consult.
    - `deny`: the service's own 403 wording when `rule` refuses (formatted with the path args), where its clients
      or tests expect it (Glance's "You are not permitted to modify image ...").
    """
    method: str
    path: str
    rule: str
    handler: Callable[[Call], Any]
    schema: dict | None = None
    load: Callable[[Call], Any] | None = None
    target: Callable[[Call], dict] | None = None
    fields: Mapping[str, str] = dataclasses.field(default_factory=dict)
    render: Callable[[Any], Any] | None = None
    status: int = 200
    body_required: bool = True
    wrap: tuple[Callable, ...] = ()     # view decorators (e.g. appliance.app.max_body)
    checks: tuple[str, ...] = ()
    unset: tuple = ()
    deny: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def rules(self) -> set[str]:
        """Every policy rule this route can check."""
        return ({self.rule} - set(NON_POLICY)) | set(self.fields.values()) | set(self.checks)


def _body_attributes(body: Any) -> dict:
    """The resource document in a body: {'network': {...}} -> {...}; a bare object is itself."""
    if isinstance(body, dict) and len(body) == 1:
        (inner,) = body.values()
        if isinstance(inner, dict):
            return inner
    return body if isinstance(body, dict) else {}


def _enforce_fields(route: Route, call: Call, target: dict) -> None:
    if not route.fields or request.method not in ("POST", "PUT", "PATCH"):
        return
    attrs = _body_attributes(call.body)
    for name, rule in route.fields.items():
        named = [a for a in attrs if a.startswith(name)] if name.endswith(":") else [name] if name in attrs else []
        present = any(attrs[a] not in route.unset for a in named)
        if present:
            policy.enforce(rule, target)


def _enforce_rule(route: Route, call: Call, target: dict) -> None:
    if not route.deny:
        policy.enforce(route.rule, target)
    elif not policy.check(route.rule, target):
        raise Forbidden(route.deny.format(**call.args))


def dispatch(route: Route, args: dict):
    """Load, enforce, run, render: the only place a route's access is decided."""
    call = Call(route, args)
    if route.rule not in NON_POLICY:
        if route.load is not None:
            call.resource = route.load(call)
        if route.target is not None:
            target = route.target(call)     # with a load, it may read call.resource
        elif route.load is not None:
            target = {**args, **target_of(call.resource)}
        else:
            target = call.default_target()
        _enforce_rule(route, call, target)
        _enforce_fields(route, call, target)
    elif route.load is not None:
        call.resource = route.load(call)
    result = route.handler(call)
    if route.render is None:
        return result
    if result is None:
        return "", route.status
    return jsonify(route.render(result)), route.status


class RouteTable:
    """A service's routes, built as data and served through one blueprint."""

    def __init__(self, name: str, routes: Iterable[Route] = ()):
        self.name = name
        self.routes: list[Route] = list(routes)

    def add(self, method: str, path: str, rule: str, handler: Callable[[Call], Any], **kw) -> Route:
        r = Route(method, path, rule, handler, **kw)
        self.routes.append(r)
        return r

    def extend(self, routes: Iterable[Route]) -> None:
        self.routes.extend(routes)

    def blueprint(self) -> Blueprint:
        bp = Blueprint(self.name, __name__)
        for i, r in enumerate(self.routes):
            view = _view(r)
            for deco in r.wrap:
                view = deco(view)
            if r.rule == PUBLIC:
                view = public(view)
            bp.add_url_rule(r.path, endpoint=f"r{i}_{r.handler.__name__}", view_func=view, methods=[r.method])
        return bp


def _view(route: Route):
    def view(**args):
        return dispatch(route, args)
    view.__name__ = route.handler.__name__
    view.__doc__ = route.handler.__doc__
    return view


def register(app: Flask, *tables: RouteTable) -> None:
    """Serve the tables and remember them, so the policy table and its test read what is served."""
    app.extensions.setdefault("egret.routes", [])
    for table in tables:
        app.register_blueprint(table.blueprint())
        app.extensions["egret.routes"].extend(table.routes)


def declared(app: Flask) -> list[Route]:
    return list(app.extensions.get("egret.routes", []))


def policy_table(routes: Iterable[Route], rules: Mapping[str, str]) -> list[dict]:
    """Rows for `egret policy list`: who may call what, with the rule's text (defaults merged with overrides)."""
    rows = []
    for r in sorted(routes, key=lambda r: (r.path, r.method)):
        text = rules.get(r.rule, "") if r.rule not in NON_POLICY else r.rule.lstrip("@")
        rows.append({"method": r.method, "path": r.path, "rule": r.rule, "check": text,
                     "fields": {k: rules.get(v, v) for k, v in r.fields.items()},
                     "checks": {c: rules.get(c, "") for c in r.checks}})
    return rows
