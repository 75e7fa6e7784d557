"""Join / enrolment token format: egret-join:v1:<base64url JSON> and egret-enrol:v1:<base64url JSON>.

JSON fields: addresses (["host:port", ...], join) or hub_url (enrol), ca_fingerprint ("sha256:" + 64 hex),
secret (>= 22 url-safe characters), expires_at (UTC, ISO 8601 "2026-11-21T08:00:00Z"), optional members
(host names already in the site). The cluster service issues join tokens, the federation hub enrol tokens.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from datetime import datetime, timezone

PREFIXES = {"join": "egret-join:v1:", "enrol": "egret-enrol:v1:"}
FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{64}$")
HOSTPORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


class TokenInvalid(ValueError):
    pass


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def make_token(kind: str, *, ca_fingerprint: str, expires_at: float, addresses=None, hub_url=None,
               members=(), secret: str | None = None) -> str:
    body = {"ca_fingerprint": ca_fingerprint, "secret": secret or secrets.token_urlsafe(24),
            "expires_at": datetime.fromtimestamp(expires_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if kind == "join":
        body["addresses"] = list(addresses or [])
        body["members"] = list(members)
    else:
        body["hub_url"] = hub_url
    return PREFIXES[kind] + _b64(body)


def pretty_fingerprint(fp: str) -> str:
    hexpart = fp.split(":", 1)[1].upper()
    return "SHA256 " + ":".join(hexpart[i:i + 2] for i in range(0, len(hexpart), 2))


def parse(kind: str, token: str, now: float | None = None) -> dict:
    """The decoded token, or TokenInvalid saying exactly what is wrong with it."""
    token = (token or "").strip()
    prefix = PREFIXES[kind]
    if not token.startswith(prefix):
        other = [k for k, p in PREFIXES.items() if token.startswith(p)]
        if other:
            raise TokenInvalid(f"This is an {other[0]} token; a {kind} token starts with '{prefix}'.")
        raise TokenInvalid(f"Not an Egret {kind} token: it must start with '{prefix}'.")
    payload = token[len(prefix):]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError):
        raise TokenInvalid("The token is damaged (its payload is not base64-encoded JSON); copy it again.") \
            from None
    if not isinstance(body, dict):
        raise TokenInvalid("The token is damaged (its payload is not a JSON object).")
    needed = ["ca_fingerprint", "secret", "expires_at"] + (["addresses"] if kind == "join" else [])
    missing = [k for k in needed if k not in body]
    if missing:
        raise TokenInvalid(f"The token lacks {', '.join(missing)}.")
    if not isinstance(body["ca_fingerprint"], str) or not FINGERPRINT.match(body["ca_fingerprint"]):
        raise TokenInvalid("The token's CA fingerprint is malformed (expected sha256:<64 hex digits>).")
    if not isinstance(body["secret"], str) or len(body["secret"]) < 22:
        raise TokenInvalid("The token's secret is too short.")
    try:
        expires = datetime.strptime(str(body["expires_at"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise TokenInvalid("The token's expiry is not a UTC time like 2026-11-21T08:00:00Z.") from None
    if expires.timestamp() <= (now if now is not None else time.time()):
        raise TokenInvalid(f"The token expired at {body['expires_at']}; ask for a new one.")
    if kind == "join":
        addrs = body["addresses"]
        if not isinstance(addrs, list) or not addrs or not all(isinstance(a, str) and HOSTPORT.match(a)
                                                               for a in addrs):
            raise TokenInvalid("The token's addresses must be a non-empty list of host:port.")
    return body
