"""Site labels and selectors, validated like Kubernetes labels; the field named in every refusal."""
from __future__ import annotations

import re

from appliance import errors

MAX_LABELS = 64
_NAME = r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?"
_DNS_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_PREFIX = rf"{_DNS_LABEL}(\.{_DNS_LABEL})*"
# JSON schema patterns (ECMA and Python agree on these); the manager re-checks with fullmatch, as '$' in a
# Python search also matches before a trailing newline
KEY_PATTERN = rf"^({_PREFIX}/)?{_NAME}$"
VALUE_PATTERN = rf"^({_NAME})?$"
MAX_KEY_LENGTH = 253 + 1 + 63


def valid_key(key) -> bool:
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not re.fullmatch(KEY_PATTERN[1:-1], key):
        return False
    prefix = key.rpartition("/")[0]
    return len(prefix) <= 253


def valid_value(value) -> bool:
    return isinstance(value, str) and len(value) <= 63 and bool(re.fullmatch(VALUE_PATTERN[1:-1], value))


def check(labels, field: str, *, allow_null: bool = False) -> dict:
    """`labels` if it is a valid label map (None values allowed with allow_null); BadRequest naming the field."""
    if not isinstance(labels, dict):
        raise errors.BadRequest(f"Invalid input for field '{field}': must be an object of label: value.")
    if len(labels) > MAX_LABELS:
        raise errors.BadRequest(f"Invalid input for field '{field}': at most {MAX_LABELS} labels.")
    for key, value in labels.items():
        if not valid_key(key):
            raise errors.BadRequest(f"Invalid input for field '{field}': {key[:80]!r} is not a valid label key "
                                    "(an optional DNS-subdomain prefix and '/', then up to 63 characters of "
                                    "A-Z a-z 0-9 . _ - beginning and ending alphanumeric).")
        if value is None and allow_null:
            continue
        if not valid_value(value):
            raise errors.BadRequest(f"Invalid input for field '{field}/{key}': a label value is a string of up to "
                                    "63 characters of A-Z a-z 0-9 . _ - beginning and ending alphanumeric, or "
                                    "empty.")
    return labels


def parse_pairs(pairs, field: str) -> dict:
    """['k=v', ...] (query strings, the CLI) as a map; a pair without '=' is refused naming the field."""
    out = {}
    for pair in pairs:
        key, sep, value = str(pair).partition("=")
        if not sep:
            raise errors.BadRequest(f"Invalid input for field '{field}': {str(pair)[:80]!r} is not key=value.")
        out[key] = value
    return check(out, field)


def matches(labels: dict, selector: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())
