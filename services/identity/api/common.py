"""What identity's route tables share: the collaborators, the policy target, list filters from the query."""
from __future__ import annotations

from typing import Callable

from flask import current_app, request

from appliance.routes import Call, manager

__all__ = ["authn", "check", "creds", "is_admin", "manager", "query_filters", "target"]


def creds():
    return current_app.extensions["egret.credentials"]


def authn():
    return current_app.extensions["egret.authn"]


def _with_token_domain(call: Call, target: dict) -> dict:
    # lets "admin_required" tell a domain-scoped token apart (see policies.py)
    ctx = call.context
    return {**target, "token_domain_id": (ctx.domain_id if ctx else None) or "-"}


def target(of: Callable[[Call], dict] | None = None) -> Callable[[Call], dict]:
    """A route's policy target: the path arguments (or `of(call)`), plus the token's domain for admin_required."""
    def build(call: Call) -> dict:
        return _with_token_domain(call, dict(call.args) if of is None else of(call))
    return build


def check(call: Call, rule: str, target_: dict | None = None) -> bool:
    """A secondary decision inside a handler (what a list shows), with identity's target."""
    return call.check(rule, _with_token_domain(call, target_ or {}))


def is_admin(call: Call) -> bool:
    return check(call, "admin_required")


def query_filters(*names) -> dict:
    return {n: request.args.get(n) for n in names if request.args.get(n) is not None}
