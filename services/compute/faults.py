"""A server's fault: a message its user can act on, and the internal details only an admin sees (as in Nova)."""
from __future__ import annotations

from appliance.db import utcnow
from appliance.errors import ApiError
from services.compute.access import AccessDenied
from services.compute.drivers.base import DriverError, UnsupportedSpec
from services.compute.external import ExternalError, public_text

SERVICE_NAMES = {"network": "Network", "image": "Image", "volume": "Volume", "identity": "Identity"}


class BuildError(Exception):
    """A build step failed; the message becomes the server's fault."""


def record(inst, exc: Exception | str, building: bool = False) -> None:
    """Record what went wrong on `inst` (not saved): `message` for the server's user, `details` for admins only."""
    code, message, details = describe(exc, building)
    inst.fault = {"code": code, "message": message[:255], "details": details,
                  "created": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}


def describe(exc: Exception | str, building: bool = False) -> tuple[int, str, str]:
    """(code, message for the server's user, details for an admin) of what stopped a build or an action."""
    details = getattr(exc, "details", None) or str(exc)
    if isinstance(exc, ApiError):
        return exc.status, public_text(str(exc)), details
    if isinstance(exc, AccessDenied):
        return exc.status, public_text(str(exc)), details
    if isinstance(exc, UnsupportedSpec):
        return 400, public_text(str(exc)), details
    if isinstance(exc, ExternalError):
        service = SERVICE_NAMES.get(exc.service, "A required")
        if exc.status >= 500 or exc.status in (401, 403):
            # a refusal of compute's own credentials or a service down: nothing the user can fix but retry
            return 500, f"{service} service unavailable", details
        return 500, public_text(f"{service} service refused the request: {exc}"), details
    if isinstance(exc, DriverError) and building:
        reason = "not enough free memory" if "memory" in str(exc).lower() else "the hypervisor could not start it"
        return 500, f"No valid host was found: {reason}", details
    if isinstance(exc, (BuildError, DriverError, str)):
        return 500, public_text(str(exc)), details
    # an unexpected error is a bug: its text is for the admin only
    return 500, "Build failed: an unexpected error occurred.", details
