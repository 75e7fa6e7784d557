"""JSON schemas of the request bodies (types of the known attributes; unknown ones pass as in Neutron's API)."""
from __future__ import annotations

_S = {"type": "string", "maxLength": 255}
_NS = {"type": ["string", "null"], "maxLength": 255}
_B = {"type": "boolean"}
_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_NID = {"type": ["string", "null"], "maxLength": 64}
_TAGS = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255}}
_INT = {"type": "integer"}
_NINT = {"type": ["integer", "null"]}
_STD = {"name": _S, "description": _S, "project_id": _ID, "tenant_id": _ID, "tags": _TAGS}


def _wrap(key: str, props: dict, required=()) -> dict:
    inner = {"type": "object", "properties": {**_STD, **props}, "required": list(required)}
    return {"type": "object", "properties": {key: inner}, "required": [key]}


def _network_props():
    return {"admin_state_up": _B, "shared": _B, "router:external": _B, "mtu": _INT,
            "port_security_enabled": _B, "qos_policy_id": _NID,
            "provider:network_type": {"type": "string", "enum": ["vxlan", "flat", "vlan"]},
            "provider:physical_network": _NS, "provider:segmentation_id": _NINT,
            # checked in depth by services.network.tsn and .pcp
            "tsn:schedule": {"type": ["object", "null"]}, "vlan:egress_qos_map": {"type": ["array", "null"]},
            "vlan:ingress_qos_map": {"type": ["array", "null"]}}


NETWORK_CREATE = _wrap("network", _network_props())
NETWORK_UPDATE = _wrap("network", _network_props())

_POOL = {"type": "array", "items": {"type": "object"}}
_SUBNET = {"ip_version": {"type": "integer", "enum": [4, 6]}, "cidr": {"type": "string"},
           "gateway_ip": {"type": ["string", "null"]}, "allocation_pools": _POOL,
           "dns_nameservers": {"type": "array", "items": {"type": "string"}},
           "host_routes": {"type": "array", "items": {"type": "object"}}, "enable_dhcp": _B,
           "network_id": _ID, "ipv6_ra_mode": _NS, "ipv6_address_mode": _NS}
SUBNET_CREATE = _wrap("subnet", _SUBNET, required=["network_id"])
SUBNET_UPDATE = _wrap("subnet", _SUBNET)

_PORT = {"network_id": _ID, "admin_state_up": _B, "mac_address": {"type": "string"},
         "fixed_ips": {"type": "array", "items": {"type": "object"}}, "device_id": _S,
         "device_owner": _S, "binding:host_id": _S, "binding:profile": {"type": ["object", "null"]},
         "binding:vnic_type": {"type": "string", "enum": ["normal", "direct", "macvtap", "baremetal",
                                                          "direct-physical", "virtio-forwarder"]},
         "allowed_address_pairs": {"type": "array", "items": {"type": "object"}},
         "port_security_enabled": _B, "security_groups": {"type": ["array", "null"], "items": _ID},
         "qos_policy_id": _NID, "dns_name": _S, "extra_dhcp_opts": {"type": "array"}}
PORT_CREATE = _wrap("port", _PORT, required=["network_id"])
PORT_UPDATE = _wrap("port", _PORT)

_GW = {"type": ["object", "null"], "properties": {"network_id": _ID, "enable_snat": _B,
                                                  "external_fixed_ips": {"type": "array"}}}
_ROUTER = {"admin_state_up": _B, "external_gateway_info": _GW,
           "routes": {"type": ["array", "null"], "items": {"type": "object"}}}
ROUTER_CREATE = _wrap("router", _ROUTER)
ROUTER_UPDATE = _wrap("router", _ROUTER)
ROUTER_INTERFACE = {"type": "object", "properties": {"subnet_id": _ID, "port_id": _ID}}

_FIP = {"floating_network_id": _ID, "port_id": _NID, "fixed_ip_address": {"type": ["string", "null"]},
        "floating_ip_address": {"type": ["string", "null"]}, "subnet_id": _NID}
FLOATINGIP_CREATE = _wrap("floatingip", _FIP, required=["floating_network_id"])
FLOATINGIP_UPDATE = _wrap("floatingip", _FIP)

SG_CREATE = _wrap("security_group", {"stateful": _B}, required=[])
SG_UPDATE = SG_CREATE
SG_RULE_CREATE = _wrap("security_group_rule", {
    "security_group_id": _ID, "direction": {"type": "string", "enum": ["ingress", "egress"]},
    "ethertype": {"type": "string", "enum": ["IPv4", "IPv6"]}, "protocol": {"type": ["string", "integer", "null"]},
    "port_range_min": _NINT, "port_range_max": _NINT, "remote_ip_prefix": {"type": ["string", "null"]},
    "remote_group_id": _NID}, required=["security_group_id", "direction"])

QOS_POLICY_CREATE = _wrap("policy", {"shared": _B, "is_default": _B})
QOS_POLICY_UPDATE = QOS_POLICY_CREATE
_BW = {"max_kbps": {"type": "integer", "minimum": 1, "maximum": 2147483647},
       "max_burst_kbps": {"type": "integer", "minimum": 0, "maximum": 2147483647},
       "direction": {"type": "string", "enum": ["ingress", "egress"]}}
QOS_BW_CREATE = {"type": "object", "properties": {"bandwidth_limit_rule": {
    "type": "object", "properties": _BW, "required": ["max_kbps"]}}, "required": ["bandwidth_limit_rule"]}
QOS_BW_UPDATE = {"type": "object", "properties": {"bandwidth_limit_rule": {
    "type": "object", "properties": _BW}}, "required": ["bandwidth_limit_rule"]}

# the marks Neutron accepts: the class selectors and the assured/expedited forwarding code points
DSCP_MARKS = [0, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 44, 46, 48, 56]
_DSCP = {"dscp_mark": {"type": "integer", "enum": DSCP_MARKS}}
QOS_DSCP_CREATE = {"type": "object", "properties": {"dscp_marking_rule": {
    "type": "object", "properties": _DSCP, "required": ["dscp_mark"]}}, "required": ["dscp_marking_rule"]}
QOS_DSCP_UPDATE = QOS_DSCP_CREATE

QUOTA_UPDATE = {"type": "object", "properties": {"quota": {"type": "object"}}, "required": ["quota"]}
TAGS_REPLACE = {"type": "object", "properties": {"tags": _TAGS}, "required": ["tags"]}
