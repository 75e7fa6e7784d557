"""JSON schemas of the federation hub's request bodies."""
import re

from services.federation import labels

SITE_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_NAME = re.compile(SITE_NAME[1:-1])
MIN_TTL, MAX_TTL, DEFAULT_TTL = 60, 7 * 24 * 3600, 3600

ISSUE_TOKEN = {
    "type": "object",
    "properties": {"ttl": {"type": "integer", "minimum": MIN_TTL, "maximum": MAX_TTL}},
    "additionalProperties": False,
}

ENROL = {
    "type": "object",
    "properties": {
        "secret": {"type": "string", "minLength": 1, "maxLength": 256},
        "site": {"type": "string", "pattern": SITE_NAME, "maxLength": 63},
        "csr": {"type": "string", "minLength": 1, "maxLength": 16384},
        "info": {"type": "object"},
    },
    "required": ["secret", "site", "csr"],
    "additionalProperties": False,
}

RENEW_CERTIFICATE = {
    "type": "object",
    "properties": {"csr": {"type": "string", "minLength": 1, "maxLength": 16384}},
    "required": ["csr"],
    "additionalProperties": False,
}

REPORT = {
    "type": "object",
    "properties": {
        "health": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "inventory": {"type": "object"},
    },
    "required": ["health"],
    "additionalProperties": False,
}

_LABELS = {
    "type": "object",
    "maxProperties": labels.MAX_LABELS,
    "propertyNames": {"type": "string", "maxLength": labels.MAX_KEY_LENGTH, "pattern": labels.KEY_PATTERN},
}
LABEL_MAP = {**_LABELS, "additionalProperties": {"type": "string", "maxLength": 63,
                                                 "pattern": labels.VALUE_PATTERN}}
REGION = {"type": "string", "maxLength": 255, "pattern": r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,253}[A-Za-z0-9])?$"}

UPDATE_SITE = {
    "type": "object",
    "properties": {
        "site": {
            "type": "object",
            "properties": {"labels": LABEL_MAP, "region": {"anyOf": [REGION, {"const": ""}]}},
            "additionalProperties": False,
            "minProperties": 1,
        },
    },
    "required": ["site"],
    "additionalProperties": False,
}

_GROUP_FIELDS = {
    "name": {"type": "string", "pattern": SITE_NAME, "maxLength": 63},
    "selector": LABEL_MAP,
    "max_parallel": {"type": "integer", "minimum": 1, "maximum": 10000},
    "max_failures": {"type": "integer", "minimum": 0, "maximum": 10000},
}


def _group(required: list[str], fields: dict) -> dict:
    return {
        "type": "object",
        "properties": {"site_group": {"type": "object", "properties": fields, "required": required,
                                      "additionalProperties": False}},
        "required": ["site_group"],
        "additionalProperties": False,
    }


CREATE_SITE_GROUP = _group(["name", "selector"], _GROUP_FIELDS)
# the name is the group's address: it is not changed by an update
UPDATE_SITE_GROUP = _group([], {k: v for k, v in _GROUP_FIELDS.items() if k != "name"})


def valid_name(value) -> bool:
    """A site's or site group's name (a DNS label), with fullmatch: '$' in a schema pattern allows a final newline."""
    return isinstance(value, str) and bool(_NAME.fullmatch(value))
