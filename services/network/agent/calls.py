"""The network agent's routes: POST /v1/driver/<method> runs that method of the data-plane contract on this node."""
from __future__ import annotations

import inspect
import json
import typing

from flask import Response, current_app, jsonify, request

from appliance import bodies, errors, routes
from appliance.app import max_body
from services.network.drivers import base

# a whole site's topology (thousands of ports with their rules) fits well within this
MAX_ARGS_BODY = 8 * 1024 * 1024   # `max_body` in [service.network-agent] says otherwise
SECTION = "network-agent"


def _contract() -> dict[str, inspect.Signature]:
    """Every public method of base.Driver, read at import: a method added to the contract is served unedited."""
    return {name: inspect.signature(fn) for name, fn in vars(base.Driver).items()
            if callable(fn) and not name.startswith("_")}


METHODS = _contract()
HINTS = {name: typing.get_type_hints(getattr(base.Driver, name)) for name in METHODS}


def error_type(exc: BaseException) -> str:
    """The contract class an error travels as (a driver's own subclass, or netlink's, arrives as its base)."""
    for cls in (base.DriverError, ValueError, RuntimeError):
        if isinstance(exc, cls):
            return cls.__name__
    return RuntimeError.__name__


def driver_error(exc: BaseException) -> Response:
    """422: the request was fine, the node's data plane refused or failed it; the caller re-raises the class."""
    kind = error_type(exc)
    message = str(exc) if isinstance(exc, (ValueError, RuntimeError)) else f"{type(exc).__name__}: {exc}"
    body = {"error": {"code": 422, "title": "Unprocessable Entity", "message": message},
            "driver_error": {"type": kind, "message": message}}
    return Response(json.dumps(body), status=422, mimetype="application/json")


def _arguments(name: str) -> dict:
    # refuses an oversized body, chunked or not, with 413
    bodies.bound(int(current_app.extensions["egret.settings"].section(SECTION).get("max_body", MAX_ARGS_BODY)))
    raw = request.get_data()
    document = bodies.parse_json(raw) if raw else {}
    if not isinstance(document, dict):
        raise errors.BadRequest("Invalid input: the arguments are a JSON object, by name.")
    params = {p: v for p, v in METHODS[name].parameters.items() if p != "self"}
    unknown = sorted(set(document) - set(params))
    if unknown:
        raise errors.BadRequest(f"Invalid input for field '{unknown[0][:60]}': not an argument of {name}.")
    kwargs = {}
    for param, spec in params.items():
        if param not in document:
            if spec.default is inspect.Parameter.empty:
                raise errors.BadRequest(f"Invalid input for field '{param}': missing.")
            continue            # the node's own default
        try:
            kwargs[param] = base.decode(HINTS[name][param], document[param], param)
        except ValueError as exc:
            field, _, why = str(exc).partition(": ")
            raise errors.BadRequest(f"Invalid input for field '{field}': {why}.") from None
    return kwargs


def call(c: routes.Call):
    name = c.args["method"]
    if name not in METHODS:
        # only the contract's public methods, by an exact name: never getattr of whatever the path says
        raise errors.NotFound(f"'{name[:60]}' is not a method of the network driver contract.")
    kwargs = _arguments(name)
    driver = current_app.extensions["egret.driver"]
    try:
        result = getattr(driver, name)(**kwargs)
    except Exception as exc:    # the node's data plane failed: the caller decides (the manager logs and retries)
        return driver_error(exc)
    return jsonify(result=result)


def describe(c: routes.Call):
    """What the control plane needs to know of this node's driver: its prefix (namespace names), tag and VXLAN
    port (its peers flood to it)."""
    driver = current_app.extensions["egret.driver"]
    return jsonify(prefix=driver.prefix, node_tag=getattr(driver, "node_tag", ""),
                   vxlan_port=getattr(driver, "vxlan_port", None), methods=sorted(METHODS))


# mTLS (appliance.peergate) stands in front of these routes instead of a Keystone token: nodes have no tokens
TABLE = routes.RouteTable("network-agent", [
    routes.Route("GET", "/v1/driver", routes.PUBLIC, describe),
    routes.Route("POST", "/v1/driver/<method>", routes.PUBLIC, call, body_required=False,
                 wrap=(max_body(None),)),   # bounded by the view itself, from the unit's settings
])
