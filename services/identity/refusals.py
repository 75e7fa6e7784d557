"""Keystone's wording for the refusals every identity module raises: not found, conflict."""
from __future__ import annotations

from appliance import errors


def not_found(kind: str, ident) -> errors.NotFound:
    return errors.NotFound(f"Could not find {kind}: {ident}.")


def conflict(kind: str, detail: str) -> errors.Conflict:
    return errors.Conflict(f"Conflict occurred attempting to store {kind} - {detail}.")
