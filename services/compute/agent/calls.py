"""The node agent's one route: POST /v1/driver/<method> runs that method of the driver contract on this node."""
from __future__ import annotations

import itertools
import json

from flask import Response, current_app, jsonify, request

from appliance import bodies, errors, routes
from appliance.app import max_body
from services.compute.drivers import codec, specs

# a spec, a config drive's files (user data up to 64 KiB, base64) and their wrapping fit well within this
MAX_ARGS_BODY = 8 * 1024 * 1024   # `max_body` in [service.compute-agent] says otherwise
SECTION = "compute-agent"
ARGS_HEADER = "X-Egret-Arguments"   # a streamed upload's other arguments (its body is the stream)
STREAM_BLOCK = 1 << 16


def _bad(exc: codec.CodecError) -> errors.BadRequest:
    field, _, why = str(exc).partition(": ")
    return errors.BadRequest(f"Invalid input for field '{field}': {why or field}.")


def _arguments(m: codec.Method) -> dict:
    if m.streams_in:
        raw = request.headers.get(ARGS_HEADER, "{}")
        if len(raw) > 4096:
            raise errors.BadRequest(f"Invalid input for field '{ARGS_HEADER}': longer than 4096 characters.")
        document = bodies.parse_json(raw.encode())
    else:
        # refuses an oversized body, chunked or not, with 413
        bodies.bound(int(current_app.extensions["egret.settings"].section(SECTION).get("max_body", MAX_ARGS_BODY)))
        raw = request.get_data()
        document = bodies.parse_json(raw) if raw else {}
    try:
        kwargs = codec.decode_args(m, document)
    except codec.CodecError as exc:
        raise _bad(exc) from None
    if m.streams_in:
        kwargs[codec.STREAM_PARAM] = _body_chunks()
    return kwargs


def _body_chunks():
    stream = request.stream
    try:
        while True:
            block = stream.read(STREAM_BLOCK)
            if not block:
                return
            yield block
    except bodies.GUNICORN_BODY_ERRORS as exc:
        raise bodies.FramingError(str(exc) or exc.__class__.__name__) from None


def driver_error(exc: specs.DriverError) -> Response:
    """422: the request was fine, the node's driver refused or failed it; the caller re-raises the same class."""
    body = {"error": {"code": 422, "title": "Unprocessable Entity", "message": str(exc)},
            "driver_error": codec.encode_error(exc)}
    return Response(json.dumps(body), status=422, mimetype="application/json")


def call(c: routes.Call):
    m = codec.method(c.args["method"])
    if m is None:
        # only the contract's public methods, by an exact name: never getattr of whatever the path says
        raise errors.NotFound(f"'{c.args['method'][:60]}' is not a method of the compute driver contract.")
    kwargs = _arguments(m)
    driver = current_app.extensions["egret.driver"]
    try:
        result = getattr(driver, m.name)(**kwargs)
        if m.streams_out:
            # the first block before the status line, so a refusal (no such disk) is still an error answer
            stream = iter(result)
            first = next(stream, b"")
    except specs.DriverError as exc:
        return driver_error(exc)
    if m.streams_out:
        return Response(itertools.chain([first], stream), mimetype="application/octet-stream")
    try:
        return jsonify(result=codec.encode(result))
    except codec.CodecError as exc:
        return driver_error(specs.DriverError(f"{m.name} returned what the contract cannot carry: {exc}"))


# mTLS (appliance.peergate) stands in front of this route instead of a Keystone token: nodes have no tokens
TABLE = routes.RouteTable("compute-agent", [
    routes.Route("POST", "/v1/driver/<method>", routes.PUBLIC, call, body_required=False,
                 wrap=(max_body(None),)),   # unbounded here: a streamed upload; the others bound themselves
])
