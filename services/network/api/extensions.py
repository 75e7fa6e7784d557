"""GET / (version list), /v2.0 (resources), /v2.0/extensions: only what is implemented; unknown aliases are 404."""
from flask import jsonify, request

from appliance.routes import ANY_TOKEN, PUBLIC, Route
from services.network.errors import not_found

_UPDATED = "2024-01-01T00:00:00-00:00"
EXTENSIONS = {
    "agent": "agent",
    "allowed-address-pairs": "Allowed Address Pairs",
    "binding": "Port Binding",
    "external-net": "Neutron external network",
    "ext-gw-mode": "Neutron L3 Configurable external gateway mode",
    "extraroute": "Neutron Extra Route",
    "net-mtu": "Network MTU",
    "network-ip-availability": None,
    "pagination": "Pagination support",
    "port-security": "Port Security",
    "project-id": "project_id field enabled",
    "provider": "Provider Network",
    "qos": "Quality of Service",
    "qos-bw-limit-direction": "Direction for QoS bandwidth limit rule",
    "qos-dscp-pcp": "DSCP marking rules also set the packets' priority (the mark's class, DSCP >> 3), which a vlan "
                    "network's egress QoS map sends as the 802.1p PCP",
    "quotas": "Quota management support",
    "quota_details": "Quota details management support",
    "router": "Neutron L3 Router",
    "security-group": "security-group",
    "sorting": "Sorting support",
    "standard-attr-description": "standard-attr-description",
    "standard-attr-revisions": "Resource revision numbers",
    "standard-attr-tag": "Tag support for resources with standard attribute: subnet, trunk, network_segment_range, "
                         "router, network, policy, subnetpool, port, security_group, floatingip",
    "standard-attr-timestamp": "Resource timestamps",
    "tsn": "Time-sensitive networking: taprio/mqprio schedules with etf and cbs queues on provider networks",
    "vlan-qos-map": "VLAN priority: socket priority to 802.1p PCP maps on vlan networks, egress and ingress",
}
EXTENSIONS = {k: v for k, v in EXTENSIONS.items() if v}


def _ext(alias: str) -> dict:
    return {"alias": alias, "name": EXTENSIONS[alias], "description": EXTENSIONS[alias], "updated": _UPDATED,
            "links": []}


def versions(call):
    url = request.host_url.rstrip("/") + "/v2.0/"
    return jsonify({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": url}]}]})


def resources(call):
    base = request.host_url.rstrip("/") + "/v2.0/"
    colls = ["networks", "subnets", "ports", "routers", "floatingips", "security-groups", "security-group-rules",
             "quotas", "agents", "extensions"]
    return jsonify({"resources": [{"name": c.rstrip("s"), "collection": c,
                                   "links": [{"rel": "self", "href": base + c}]} for c in colls]})


def list_extensions(call):
    return jsonify({"extensions": [_ext(a) for a in sorted(EXTENSIONS)]})


def show_extension(call):
    alias = call.args["alias"]
    if alias not in EXTENSIONS:
        raise not_found("Extension", "Extension with alias", alias)
    return jsonify({"extension": _ext(alias)})


# API discovery: the version list needs no token, the rest any valid one (Neutron checks no rule here)
ROUTES = [
    Route("GET", "/", PUBLIC, versions),
    Route("GET", "/v2.0", ANY_TOKEN, resources),
    Route("GET", "/v2.0/", ANY_TOKEN, resources),
    Route("GET", "/v2.0/extensions", ANY_TOKEN, list_extensions),
    Route("GET", "/v2.0/extensions/<alias>", ANY_TOKEN, show_extension),
]
