"""/v3/regions, /v3/services, /v3/endpoints: plain resources written through the manager's catalog."""
from __future__ import annotations

from appliance.routes import Call, Route, RouteTable
from services.identity import schemas
from services.identity.api.common import manager, target
from services.identity.api.crud import Resource, crud
from services.identity.render import render_endpoint, render_region, render_service


def _catalog():
    return manager().catalog


def _manage(kind: str) -> dict:
    # Keystone has one rule for every write of a catalog resource
    return {verb: f"identity:manage_{kind}" for verb in ("create", "update", "delete")}


REGIONS = Resource("regions", "region", schemas.REGION, render_region, filters=("parent_region_id",), required=(),
                   rules=_manage("regions"), store=_catalog)
SERVICES = Resource("services", "service", schemas.SERVICE, render_service, filters=("type", "name"),
                    required=("type",), rules=_manage("services"), store=_catalog)
ENDPOINTS = Resource("endpoints", "endpoint", schemas.ENDPOINT, render_endpoint,
                     filters=("interface", "service_id", "region_id"), required=("service_id", "interface", "url"),
                     rules=_manage("endpoints"), store=_catalog)


def put_region(call: Call):
    """PUT /v3/regions/<id>: create a region with the caller's id."""
    return _catalog().create_region({**call.body["region"], "id": call.args["region_id"]})


TABLE = RouteTable("identity_catalog", crud(REGIONS) + crud(SERVICES) + crud(ENDPOINTS) + [
    Route("PUT", "/v3/regions/<region_id>", "identity:manage_regions", put_region, target=target(),
          schema=schemas.wrap("region", schemas.REGION), render=lambda r: {"region": render_region(r)}, status=201),
])
