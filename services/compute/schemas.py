"""JSON schemas for compute request bodies (errors name the field, as Nova's do)."""

_name = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^(?! )[^\x00-\x1f]*(?<! )$"}
_id = {"type": ["string", "integer"], "minLength": 1}
# Nova's parameter_types.boolean: a JSON boolean or one of these strings; anything else is refused
TRUE_STRINGS = ("True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes")
FALSE_STRINGS = ("False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no")
_bool = {"type": ["boolean", "string"], "enum": [True, False, *TRUE_STRINGS, *FALSE_STRINGS]}
# Nova's non-negative integers: at most 2**31 - 1, also as a string of digits
INT_MAX = 2 ** 31 - 1


def _count(minimum: int) -> dict:
    digits = "^-?[0-9]{1,10}$" if minimum < 0 else "^[0-9]{1,10}$"
    return {"type": ["integer", "string"], "pattern": digits, "minimum": minimum, "maximum": INT_MAX}


def to_bool(value) -> bool:
    """A value _bool accepted, as a bool ("false" is False, not a non-empty string)."""
    return value in TRUE_STRINGS if isinstance(value, str) else bool(value)


CREATE_SERVER = {
    "type": "object",
    "required": ["server"],
    "properties": {
        "server": {
            "type": "object",
            "required": ["name", "flavorRef"],
            "properties": {
                "name": _name,
                "flavorRef": _id,
                "imageRef": {"type": "string"},
                "networks": {"oneOf": [
                    {"type": "string", "enum": ["auto", "none"]},
                    {"type": "array", "items": {"type": "object", "properties": {
                        "uuid": {"type": "string", "minLength": 1}, "port": {"type": ["string", "null"]},
                        "fixed_ip": {"type": "string"}, "tag": {"type": "string"}},
                        "additionalProperties": False, "anyOf": [{"required": ["uuid"]}, {"required": ["port"]}]}}]},
                "key_name": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
                "user_data": {"type": ["string", "null"], "maxLength": 65535},
                "metadata": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 255},
                             "propertyNames": {"minLength": 1, "maxLength": 255}},
                "security_groups": {"type": "array", "items": {"type": "object", "required": ["name"],
                                                                "properties": {"name": {"type": "string"}}}},
                "config_drive": _bool,
                "block_device_mapping_v2": {"type": "array", "items": {"type": "object", "properties": {
                    "uuid": {"type": "string"}, "source_type": {"enum": ["image", "volume", "snapshot", "blank"]},
                    "destination_type": {"enum": ["local", "volume"]},
                    "boot_index": {"type": ["integer", "string", "null"]},
                    "delete_on_termination": _bool,
                    "volume_size": {"type": ["integer", "string", "null"]}, "device_name": {"type": ["string", "null"]},
                    "tag": {"type": "string"}, "disk_bus": {"type": "string"}, "device_type": {"type": "string"},
                    "guest_format": {"type": ["string", "null"]}, "volume_type": {"type": ["string", "null"]},
                    "no_device": {}}}},
                "min_count": _count(1),
                "max_count": _count(1),
                # a zone some node is in, or an admin's zone:host (scheduler/zones.py checks both)
                "availability_zone": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": {"type": ["string", "null"], "maxLength": 255},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 60}, "maxItems": 50},
                "hostname": {"type": "string"},
                "accessIPv4": {"type": "string"}, "accessIPv6": {"type": "string"},
                "adminPass": {"type": "string"}, "OS-DCF:diskConfig": {"enum": ["AUTO", "MANUAL"]},
                "return_reservation_id": _bool,
                "personality": {"type": "array"}, "trusted_image_certificates": {},
                "host": {"type": "string"}, "hypervisor_hostname": {"type": "string"},
            },
            "additionalProperties": False,
        },
        "os:scheduler_hints": {"type": "object"},
        "OS-SCH-HNT:scheduler_hints": {"type": "object"},
    },
    "additionalProperties": False,
}

UPDATE_SERVER = {
    "type": "object", "required": ["server"],
    "properties": {"server": {"type": "object", "properties": {
        "name": _name, "description": {"type": ["string", "null"], "maxLength": 255},
        "accessIPv4": {"type": "string"}, "accessIPv6": {"type": "string"}, "hostname": {"type": "string"},
        "OS-DCF:diskConfig": {"enum": ["AUTO", "MANUAL"]}}, "additionalProperties": False}},
    "additionalProperties": False,
}

ACTIONS = {
    "reboot": {"type": "object", "properties": {"reboot": {
        "type": "object", "required": ["type"], "properties": {"type": {"enum": ["HARD", "Hard", "hard",
                                                                                   "SOFT", "Soft", "soft"]}}}}},
    "resize": {"type": "object", "properties": {"resize": {
        "type": "object", "required": ["flavorRef"], "properties": {"flavorRef": _id}}}},
    "createImage": {"type": "object", "properties": {"createImage": {
        "type": "object", "required": ["name"], "properties": {"name": _name, "metadata": {"type": "object"}}}}},
    "os-getConsoleOutput": {"type": "object", "properties": {"os-getConsoleOutput": {
        "type": "object", "properties": {"length": {"type": ["integer", "string", "null"]}}}}},
}

# evacuate and migrate change with the microversion (Nova's schemas/evacuate.py and migrate_server.py)
_host = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[a-zA-Z0-9_.:\[\]-]+$"}
_EVACUATE_BASE = {"host": _host, "adminPass": {"type": "string"}}


def _evacuate(properties: dict, required=()) -> dict:
    return {"type": "object", "required": ["evacuate"], "properties": {"evacuate": {
        "type": "object", "properties": properties, "required": list(required), "additionalProperties": False}},
        "additionalProperties": False}


EVACUATE_V2_1 = _evacuate({**_EVACUATE_BASE, "onSharedStorage": _bool}, ["onSharedStorage"])
EVACUATE_V2_14 = _evacuate(_EVACUATE_BASE)
EVACUATE_V2_29 = _evacuate({**_EVACUATE_BASE, "force": _bool})
EVACUATE_V2_68 = EVACUATE_V2_14
MIGRATE = {"type": "object", "required": ["migrate"], "properties": {"migrate": {
    "type": ["object", "null"], "properties": {}, "additionalProperties": False}}, "additionalProperties": False}
MIGRATE_V2_56 = {"type": "object", "required": ["migrate"], "properties": {"migrate": {
    "type": ["object", "null"], "properties": {"host": {"oneOf": [_host, {"type": "null"}]}},
    "additionalProperties": False}}, "additionalProperties": False}


def move_schema(name: str, minor: int) -> dict:
    """The body schema of evacuate or migrate at microversion 2.<minor>."""
    if name == "migrate":
        return MIGRATE_V2_56 if minor >= 56 else MIGRATE
    if minor >= 68:
        return EVACUATE_V2_68
    if minor >= 29:
        return EVACUATE_V2_29
    return EVACUATE_V2_14 if minor >= 14 else EVACUATE_V2_1


CREATE_FLAVOR = {
    "type": "object", "required": ["flavor"],
    "properties": {"flavor": {"type": "object", "required": ["name", "ram", "vcpus", "disk"], "properties": {
        "name": _name, "id": {"type": ["string", "null"], "maxLength": 255},
        "ram": _count(1), "vcpus": _count(1), "disk": _count(0), "swap": _count(0),
        "OS-FLV-EXT-DATA:ephemeral": _count(0),
        "rxtx_factor": {"type": ["number", "string"]},
        "os-flavor-access:is_public": _bool,
        "description": {"type": ["string", "null"], "maxLength": 65535}}, "additionalProperties": False}},
    "additionalProperties": False,
}

UPDATE_FLAVOR = {
    "type": "object", "required": ["flavor"], "properties": {"flavor": {
        "type": "object", "required": ["description"],
        "properties": {"description": {"type": ["string", "null"]}}, "additionalProperties": False}},
}

FLAVOR_ACTION = {
    "type": "object", "minProperties": 1, "maxProperties": 1, "properties": {
        "addTenantAccess": {"type": "object", "required": ["tenant"]},
        "removeTenantAccess": {"type": "object", "required": ["tenant"]}}, "additionalProperties": False,
}

# PUT /flavors/{id}/os-extra_specs/{key}: {key: value}, the key matching the URL's (checked by the view)
EXTRA_SPEC = {"type": "object", "minProperties": 1, "maxProperties": 1}

EXTRA_SPECS = {
    "type": "object", "required": ["extra_specs"],
    "properties": {"extra_specs": {"type": "object", "propertyNames": {"minLength": 1, "maxLength": 255},
                                   "additionalProperties": {"type": ["string", "integer", "number", "boolean"]}}},
    "additionalProperties": False,
}

CREATE_KEYPAIR = {
    "type": "object", "required": ["keypair"],
    "properties": {"keypair": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[a-zA-Z0-9 _.@-]+$"},
        "public_key": {"type": "string"}, "type": {"enum": ["ssh", "x509"]}, "user_id": {"type": "string"}},
        "additionalProperties": False}},
    "additionalProperties": False,
}

ATTACH_VOLUME = {
    "type": "object", "required": ["volumeAttachment"],
    "properties": {"volumeAttachment": {"type": "object", "required": ["volumeId"], "properties": {
        "volumeId": {"type": "string", "minLength": 1}, "device": {"type": ["string", "null"]},
        "tag": {"type": "string"}, "delete_on_termination": {"type": "boolean"}}, "additionalProperties": False}},
    "additionalProperties": False,
}

ATTACH_INTERFACE = {
    "type": "object", "required": ["interfaceAttachment"],
    "properties": {"interfaceAttachment": {"type": "object", "properties": {
        "net_id": {"type": "string"}, "port_id": {"type": "string"}, "fixed_ips": {"type": "array"},
        "tag": {"type": "string"}}, "additionalProperties": False}},
    "additionalProperties": False,
}

CREATE_GROUP = {
    "type": "object", "required": ["server_group"],
    "properties": {"server_group": {"type": "object", "required": ["name"], "properties": {
        "name": _name, "policies": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
            "enum": ["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]}},
        "policy": {"enum": ["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]},
        "rules": {"type": "object"}}, "additionalProperties": False}},
    "additionalProperties": False,
}

QUOTA_UPDATE = {
    "type": "object", "required": ["quota_set"],
    "properties": {"quota_set": {"type": "object", "properties": {
        r: _count(-1) for r in (
            "instances", "cores", "ram", "key_pairs", "server_groups", "server_group_members", "metadata_items",
            "injected_files", "injected_file_content_bytes", "injected_file_path_bytes")} | {
        "force": _bool}, "additionalProperties": False}},
    "additionalProperties": False,
}
