"""JSON schemas for compute request bodies (errors name the field, as Nova's do)."""

_name = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^(?! )[^\x00-\x1f]*(?<! )$"}
_id = {"type": ["string", "integer"], "minLength": 1}

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
                "config_drive": {"type": ["boolean", "string"]},
                "block_device_mapping_v2": {"type": "array", "items": {"type": "object", "properties": {
                    "uuid": {"type": "string"}, "source_type": {"enum": ["image", "volume", "snapshot", "blank"]},
                    "destination_type": {"enum": ["local", "volume"]},
                    "boot_index": {"type": ["integer", "string", "null"]},
                    "delete_on_termination": {"type": ["boolean", "string"]},
                    "volume_size": {"type": ["integer", "string", "null"]}, "device_name": {"type": ["string", "null"]},
                    "tag": {"type": "string"}, "disk_bus": {"type": "string"}, "device_type": {"type": "string"},
                    "guest_format": {"type": ["string", "null"]}, "volume_type": {"type": ["string", "null"]},
                    "no_device": {}}}},
                "min_count": {"type": ["integer", "string"], "minimum": 1},
                "max_count": {"type": ["integer", "string"], "minimum": 1},
                "availability_zone": {"type": "string"},
                "description": {"type": ["string", "null"], "maxLength": 255},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 60}, "maxItems": 50},
                "hostname": {"type": "string"},
                "accessIPv4": {"type": "string"}, "accessIPv6": {"type": "string"},
                "adminPass": {"type": "string"}, "OS-DCF:diskConfig": {"enum": ["AUTO", "MANUAL"]},
                "return_reservation_id": {"type": ["boolean", "string"]},
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

CREATE_FLAVOR = {
    "type": "object", "required": ["flavor"],
    "properties": {"flavor": {"type": "object", "required": ["name", "ram", "vcpus", "disk"], "properties": {
        "name": _name, "id": {"type": ["string", "null"], "maxLength": 255},
        "ram": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1},
        "vcpus": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1},
        "disk": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 0},
        "swap": {"type": ["integer", "string"], "minimum": 0},
        "OS-FLV-EXT-DATA:ephemeral": {"type": ["integer", "string"], "minimum": 0},
        "rxtx_factor": {"type": ["number", "string"]},
        "os-flavor-access:is_public": {"type": ["boolean", "string"]},
        "description": {"type": ["string", "null"], "maxLength": 65535}}, "additionalProperties": False}},
    "additionalProperties": False,
}

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
        r: {"type": ["integer", "string"], "minimum": -1} for r in (
            "instances", "cores", "ram", "key_pairs", "server_groups", "server_group_members", "metadata_items",
            "injected_files", "injected_file_content_bytes", "injected_file_path_bytes")} | {
        "force": {"type": ["boolean", "string"]}}, "additionalProperties": False}},
    "additionalProperties": False,
}
