"""Neutron's error types (the `type` field of a NeutronError body) as ApiError subclasses."""
from __future__ import annotations

from appliance.errors import ApiError


def bad_request(message: str, kind: str = "BadRequest") -> ApiError:
    return ApiError(message, status=400, kind=kind)


def invalid_input(message: str) -> ApiError:
    return ApiError(f"Invalid input for operation: {message}", status=400, kind="InvalidInput")


def not_found(kind: str, what: str, ident: str) -> ApiError:
    return ApiError(f"{what} {ident} could not be found.", status=404, kind=f"{kind}NotFound")


def conflict(message: str, kind: str) -> ApiError:
    return ApiError(message, status=409, kind=kind)


def forbidden(message: str) -> ApiError:
    return ApiError(message, status=403, kind="PolicyNotAuthorized")
