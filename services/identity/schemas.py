"""JSON schemas for identity request bodies (Keystone's field names and limits)."""

NAME64 = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S"}
NAME255 = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"}
ID = {"type": "string", "minLength": 1, "maxLength": 64}
OPT_ID = {"type": ["string", "null"], "maxLength": 64}
TEXT = {"type": ["string", "null"], "maxLength": 10000}
BOOL = {"type": "boolean"}
TAGS = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255}, "maxItems": 80}


def wrap(key: str, props: dict, required=(), additional=True) -> dict:
    inner = {"type": "object", "properties": props, "required": list(required)}
    if not additional:
        inner["additionalProperties"] = False
    return {"type": "object", "properties": {key: inner}, "required": [key]}


DOMAIN = {"name": NAME64, "description": TEXT, "enabled": BOOL, "tags": TAGS, "options": {"type": "object"},
          "id": OPT_ID}
PROJECT = {"name": NAME64, "description": TEXT, "enabled": BOOL, "domain_id": OPT_ID, "parent_id": OPT_ID,
           "is_domain": BOOL, "tags": TAGS, "options": {"type": "object"}}
USER = {"name": NAME255, "description": TEXT, "enabled": BOOL, "domain_id": OPT_ID, "email": {"type": ["string", "null"], "maxLength": 255},
        "default_project_id": OPT_ID, "password": {"type": ["string", "null"], "maxLength": 4096},
        "options": {"type": "object"}}
GROUP = {"name": NAME64, "description": TEXT, "domain_id": OPT_ID}
ROLE = {"name": NAME255, "description": TEXT, "domain_id": OPT_ID, "options": {"type": "object"}}
REGION = {"id": OPT_ID, "description": TEXT, "parent_region_id": OPT_ID}
SERVICE = {"type": NAME255, "name": {"type": "string", "maxLength": 255}, "description": TEXT, "enabled": BOOL}
ENDPOINT = {"service_id": ID, "interface": {"enum": ["public", "internal", "admin"]},
            "url": {"type": "string", "minLength": 1, "maxLength": 2048, "pattern": "^[a-zA-Z0-9+.-]+://"},
            "region_id": OPT_ID, "region": OPT_ID, "enabled": BOOL}
APP_CRED = {"name": NAME255, "description": TEXT, "secret": {"type": ["string", "null"], "minLength": 1,
                                                              "maxLength": 4096},
            "expires_at": {"type": ["string", "null"]}, "unrestricted": BOOL,
            "roles": {"type": "array", "items": {"type": "object", "properties": {"id": ID, "name": NAME255}},
                      "maxItems": 50},
            "access_rules": {"type": "array", "maxItems": 0}}
CREDENTIAL = {"user_id": ID, "project_id": OPT_ID, "type": NAME255,
              "blob": {"type": "string", "minLength": 1, "maxLength": 65535}}

AUTH = {
    "type": "object", "required": ["auth"],
    "properties": {"auth": {
        "type": "object", "required": ["identity"],
        "properties": {
            "identity": {"type": "object", "required": ["methods"], "properties": {
                "methods": {"type": "array", "minItems": 1, "items": {"type": "string"}}}},
            "scope": {"type": ["object", "string"]},
        }}},
}

PASSWORD_CHANGE = wrap("user", {"password": {"type": "string", "minLength": 1, "maxLength": 4096},
                                "original_password": {"type": "string", "maxLength": 4096}},
                       required=("password", "original_password"))
EC2_CREATE = {"type": "object", "properties": {"tenant_id": ID}, "required": ["tenant_id"]}


def create(key, props, required=("name",)):
    return wrap(key, props, required)


def update(key, props):
    return wrap(key, props, additional=True)
