"""API errors and their bodies in each upstream API's own format (Keystone, Nova/Cinder, Neutron, Glance)."""
from __future__ import annotations

import json
from http import HTTPStatus

from flask import Response


class ApiError(Exception):
    """An error a client sees: HTTP status, a message naming the field, and an optional type name."""

    status = 400
    kind = None  # e.g. Neutron's "NetworkNotFound"

    def __init__(self, message: str, status: int | None = None, kind: str | None = None, headers=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if kind is not None:
            self.kind = kind
        self.headers = dict(headers or {})

    @property
    def title(self) -> str:
        return HTTPStatus(self.status).phrase


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405


class NotAcceptable(ApiError):
    status = 406


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class ServiceUnavailable(ApiError):
    status = 503


def _json(status: int, body: dict, headers: dict) -> Response:
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    for k, v in headers.items():
        resp.headers[k] = v
    return resp


def keystone_format(err: ApiError) -> Response:
    """{"error": {"code", "title", "message"}} as Keystone sends it."""
    return _json(err.status, {"error": {"code": err.status, "title": err.title, "message": err.message}}, err.headers)


# Nova and Cinder name the wrapper after the fault class
_NOVA_FAULTS = {
    400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
    405: "badMethod", 406: "notAcceptable", 409: "conflictingRequest", 413: "overLimit",
    415: "badMediaType", 429: "overLimit", 501: "notImplemented", 503: "serviceUnavailable",
}


def nova_format(err: ApiError) -> Response:
    """{"itemNotFound": {"code", "message"}} as Nova and Cinder send it."""
    name = _NOVA_FAULTS.get(err.status, "computeFault")
    return _json(err.status, {name: {"code": err.status, "message": err.message}}, err.headers)


def neutron_format(err: ApiError) -> Response:
    """{"NeutronError": {"type", "message", "detail"}} as Neutron sends it."""
    kind = err.kind or {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                        409: "Conflict", 413: "RequestEntityTooLarge"}.get(err.status, "NeutronError")
    return _json(err.status, {"NeutronError": {"type": kind, "message": err.message, "detail": ""}}, err.headers)


def glance_format(err: ApiError) -> Response:
    """Glance's webob-style error: a JSON document with code/title/message (clients read `message`)."""
    return _json(err.status, {"code": err.status, "title": err.title, "message": err.message,
                              "error": {"code": err.status, "title": err.title, "message": err.message}},
                 err.headers)


FORMATS = {
    "keystone": keystone_format,
    "nova": nova_format,
    "cinder": nova_format,
    "neutron": neutron_format,
    "glance": glance_format,
}
