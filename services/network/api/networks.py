"""/v2.0/networks (provider attributes, TSN schedules, VLAN priority maps, external and shared are the operator's)."""
from services.network import render, schemas
from services.network.api.access import ADMIN_ATTRIBUTES, manager
from services.network.api.resources import resource_routes

_OPERATOR_KNOBS = ("provider:network_type", "provider:physical_network", "provider:segmentation_id",
                   "router:external", "shared", "tsn:schedule", "vlan:egress_qos_map", "vlan:ingress_qos_map")

ROUTES = resource_routes(
    "networks", "network", of=manager, show=render.network, writes="owned",
    create_schema=schemas.NETWORK_CREATE, update_schema=schemas.NETWORK_UPDATE,
    # a create that sets them to their defaults (shared: false, no segment) is a member's own, as in Neutron;
    # provider attributes never change (the manager answers 400), external and shared are the operator's
    create_fields={k: ADMIN_ATTRIBUTES for k in _OPERATOR_KNOBS}, unset=(None, False),
    update_fields={k: ADMIN_ATTRIBUTES for k in ("router:external", "shared", "tsn:schedule", "vlan:egress_qos_map",
                                                 "vlan:ingress_qos_map")})
