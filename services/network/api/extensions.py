"""GET / (version list), /v2.0 (resources), /v2.0/extensions: only what is implemented; unknown aliases are 404."""
from flask import Blueprint, jsonify, request

from appliance.app import public
from services.network.errors import not_found

bp = Blueprint("extensions", __name__)

_UPDATED = "2024-01-01T00:00:00-00:00"
EXTENSIONS = {
    "agent": None,  # placeholder removed below; keeps the table sorted by alias for readers
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
}
EXTENSIONS = {k: v for k, v in EXTENSIONS.items() if v}


def _ext(alias: str) -> dict:
    return {"alias": alias, "name": EXTENSIONS[alias], "description": EXTENSIONS[alias], "updated": _UPDATED,
            "links": []}


@bp.get("/")
@public
def versions():
    url = request.host_url.rstrip("/") + "/v2.0/"
    return jsonify({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": url}]}]})


@bp.get("/v2.0")
@bp.get("/v2.0/")
def resources():
    base = request.host_url.rstrip("/") + "/v2.0/"
    colls = ["networks", "subnets", "ports", "routers", "floatingips", "security-groups", "security-group-rules",
             "quotas", "extensions"]
    return jsonify({"resources": [{"name": c.rstrip("s"), "collection": c,
                                   "links": [{"rel": "self", "href": base + c}]} for c in colls]})


@bp.get("/v2.0/extensions")
def list_extensions():
    return jsonify({"extensions": [_ext(a) for a in sorted(EXTENSIONS)]})


@bp.get("/v2.0/extensions/<alias>")
def show_extension(alias):
    if alias not in EXTENSIONS:
        raise not_found("Extension", "Extension with alias", alias)
    return jsonify({"extension": _ext(alias)})
