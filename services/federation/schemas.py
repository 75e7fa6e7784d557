"""JSON schemas of the federation hub's request bodies."""

SITE_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
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

REPORT = {
    "type": "object",
    "properties": {
        "health": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "inventory": {"type": "object"},
    },
    "required": ["health"],
    "additionalProperties": False,
}
