"""JSON schemas for Cinder request bodies: types checked here (errors name the field), meaning in the managers."""
from __future__ import annotations

# Cinder's parameter_types.boolean: a JSON boolean or one of these strings
TRUE_STRINGS = ("True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t")
FALSE_STRINGS = ("False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f")
_BOOL = {"type": ["boolean", "string"], "enum": [True, False, *TRUE_STRINGS, *FALSE_STRINGS]}
_TEXT = {"type": ["string", "null"], "maxLength": 255}
_ID = {"type": ["string", "null"], "maxLength": 255}
_OBJECT = {"type": ["object", "null"]}  # Cinder's metadata_allows_null: the openstack CLI sends null

# the inner document of each wrapper key; unknown keys pass (Cinder ignores them), wrong types do not
PROPERTIES = {
    "volume": {"name": _TEXT, "description": _TEXT, "availability_zone": _TEXT, "volume_type": _ID,
               "snapshot_id": _ID, "source_volid": _ID, "imageRef": _ID, "backup_id": _ID, "group_id": _ID,
               "consistencygroup_id": _ID, "multiattach": _BOOL, "metadata": _OBJECT,
               "scheduler_hints": _OBJECT},
    "snapshot": {"volume_id": {"type": "string"}, "name": _TEXT, "description": _TEXT, "force": _BOOL,
                 "metadata": _OBJECT},
    "volume_type": {"name": {"type": "string"}, "description": _TEXT, "is_public": _BOOL,
                    "os-volume-type-access:is_public": _BOOL, "extra_specs": {"type": "object"}},
    "metadata": {}, "extra_specs": {}, "quota_set": {},
}


def wrapped(key: str) -> dict:
    """{key: {...}} with `key`'s properties typed."""
    return {"type": "object", "required": [key],
            "properties": {key: {"type": "object", "properties": PROPERTIES.get(key, {})}}}


def to_bool(value) -> bool:
    """A value _BOOL accepted, as a bool ("false" is False, not a non-empty string)."""
    return value in TRUE_STRINGS if isinstance(value, str) else bool(value)
