"""Who the caller is, as storage's managers need it: the admin role, and the 403 of a rule a route decided."""
from __future__ import annotations

from appliance import errors


def is_admin(ctx) -> bool:
    return ctx is not None and "admin" in {r.lower() for r in ctx.roles}


def denied(rule: str) -> errors.Forbidden:
    """The 403 of a rule a route decided with call.check (worded as policy.enforce words it)."""
    return errors.Forbidden(f"You are not authorized to perform the requested action: {rule}.")
