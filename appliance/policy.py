"""Policy rules in oslo.policy's syntax, default rules in code, overrides from config; enforce()."""
from __future__ import annotations

import re

from flask import current_app, g

from appliance.errors import Forbidden

# a check may contain "%(target.x)s", whose parentheses are not grouping
_TOKEN_RE = re.compile(r"\s*(\(|\)|(?:%\([^)]*\)s|[^\s()%]|%)+)")


class PolicyError(ValueError):
    """A rule does not parse."""


def _tokenize(text: str) -> list[str]:
    return [t for t in _TOKEN_RE.findall(text) if t]


class _Parser:
    """Recursive descent over: expr := term (or term)*; term := factor (and factor)*; factor := not factor | (expr) | check."""

    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.pos = 0
        self.text = text

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self):
        tok = self.peek()
        self.pos += 1
        return tok

    def parse(self):
        if not self.tokens:
            return ("true",)
        node = self.expr()
        if self.peek() is not None:
            raise PolicyError(f"unexpected {self.peek()!r} in rule {self.text!r}")
        return node

    def expr(self):
        node = self.term()
        while self.peek() == "or":
            self.take()
            node = ("or", node, self.term())
        return node

    def term(self):
        node = self.factor()
        while self.peek() == "and":
            self.take()
            node = ("and", node, self.factor())
        return node

    def factor(self):
        tok = self.take()
        if tok is None:
            raise PolicyError(f"rule {self.text!r} ends early")
        if tok == "not":
            return ("not", self.factor())
        if tok == "(":
            node = self.expr()
            if self.take() != ")":
                raise PolicyError(f"missing ')' in rule {self.text!r}")
            return node
        if tok == "@":
            return ("true",)
        if tok == "!":
            return ("false",)
        if ":" not in tok:
            raise PolicyError(f"bad check {tok!r} in rule {self.text!r}")
        kind, _, value = tok.partition(":")
        return ("check", kind, value)


def _resolve(value: str, target: dict):
    """'%(target.project_id)s' or '%(project_id)s' reads the target; anything else is a literal."""
    m = re.fullmatch(r"%\((.+)\)s", value)
    if not m:
        return value
    key = m.group(1)
    if key in target:
        return target[key]
    if key.startswith("target.") and key[7:] in target:
        return target[key[7:]]
    return _MISSING


_MISSING = object()


class Enforcer:
    def __init__(self, defaults: dict[str, str], overrides: dict[str, str] | None = None):
        self.rules: dict[str, tuple] = {}
        self.texts: dict[str, str] = {}  # the rules as written, for `egret policy list`
        for name, text in {**defaults, **(overrides or {})}.items():
            self.rules[name] = _Parser(text).parse()
            self.texts[name] = text

    def register(self, defaults: dict[str, str], overrides: dict[str, str] | None = None) -> None:
        for name, text in defaults.items():
            if name not in self.rules or (overrides and name in overrides):
                text = (overrides or {}).get(name, text)
                self.rules[name] = _Parser(text).parse()
                self.texts[name] = text

    def check(self, rule: str, target: dict, creds: dict, _depth: int = 0) -> bool:
        if rule not in self.rules:
            raise PolicyError(f"unknown policy rule {rule!r}")
        return self._eval(self.rules[rule], target, creds, _depth)

    def _eval(self, node, target, creds, depth) -> bool:
        op = node[0]
        if op == "true":
            return True
        if op == "false":
            return False
        if op == "not":
            return not self._eval(node[1], target, creds, depth)
        if op == "and":
            return self._eval(node[1], target, creds, depth) and self._eval(node[2], target, creds, depth)
        if op == "or":
            return self._eval(node[1], target, creds, depth) or self._eval(node[2], target, creds, depth)
        _, kind, value = node
        if kind == "rule":
            if depth > 20:
                raise PolicyError(f"rule {value!r} recurses")
            return self.check(value, target, creds, depth + 1)
        if kind == "role":
            return value.lower() in {r.lower() for r in creds.get("roles", ())}
        expected = _resolve(value, target)
        if expected is _MISSING:
            return False
        actual = creds.get(kind, _MISSING)
        if actual is _MISSING or actual is None:
            return False
        return str(actual) == str(expected)


def credentials(ctx) -> dict:
    """The attributes rules can check, from a TokenData."""
    if ctx is None:
        return {"roles": []}
    return {
        "user_id": ctx.user_id,
        "project_id": ctx.project_id,
        "domain_id": ctx.domain_id,
        "project_domain_id": ctx.project_domain_id,
        "user_domain_id": ctx.user_domain_id,
        "system_scope": ctx.system,
        "scope": ctx.scope,
        "roles": ctx.roles,
        "is_service": str(ctx.is_service),
    }


def check(rule: str, target: dict | None = None) -> bool:
    return current_app.extensions["egret.policy"].check(rule, target or {}, credentials(g.get("context")))


def enforce(rule: str, target: dict | None = None) -> None:
    """Raise 403 unless the request's token passes `rule` for `target`."""
    if not check(rule, target):
        raise Forbidden(f"You are not authorized to perform the requested action: {rule}.")


# Keystone's personas, shared by every service's defaults
BASE_RULES = {
    # an admin role on a domain does not make a cloud admin; project- or system-scoped admins are
    "admin_required": "role:admin and not scope:domain",
    "service_role": "role:service",
    "service_or_admin": "rule:admin_required or rule:service_role",
    "admin_or_owner": "rule:admin_required or project_id:%(project_id)s",
    "project_member": "role:member and project_id:%(project_id)s",
    "project_reader": "role:reader and project_id:%(project_id)s",
    "project_member_or_admin": "rule:admin_required or rule:project_member",
    "project_reader_or_admin": "rule:admin_required or rule:project_reader",
}
