"""/v3/regions, /v3/services, /v3/endpoints."""
from __future__ import annotations

from flask import Blueprint, jsonify

from services.identity import schemas
from services.identity.api.common import (args, body, collection, enforce, mgr, render_endpoint, render_region,
                                          render_service)
from services.identity.models import Endpoint, Region, Service

bp = Blueprint("identity_catalog", __name__)


@bp.get("/v3/regions")
def list_regions():
    enforce("identity:list_regions")
    return jsonify(collection("regions", [render_region(r) for r in
                                          mgr().list(Region, args("parent_region_id"))]))


@bp.post("/v3/regions")
def create_region():
    enforce("identity:manage_regions")
    data = body(schemas.wrap("region", schemas.REGION), "region")
    return jsonify({"region": render_region(mgr().create_region(data))}), 201


@bp.put("/v3/regions/<region_id>")
def put_region(region_id):
    enforce("identity:manage_regions")
    data = body(schemas.wrap("region", schemas.REGION), "region")
    return jsonify({"region": render_region(mgr().create_region({**data, "id": region_id}))}), 201


@bp.get("/v3/regions/<region_id>")
def get_region(region_id):
    enforce("identity:get_region")
    return jsonify({"region": render_region(mgr().get(Region, region_id))})


@bp.patch("/v3/regions/<region_id>")
def update_region(region_id):
    enforce("identity:manage_regions")
    data = body(schemas.wrap("region", schemas.REGION), "region")
    return jsonify({"region": render_region(mgr().update_region(region_id, data))})


@bp.delete("/v3/regions/<region_id>")
def delete_region(region_id):
    enforce("identity:manage_regions")
    mgr().delete_region(region_id)
    return "", 204


@bp.get("/v3/services")
def list_services():
    enforce("identity:list_services")
    return jsonify(collection("services", [render_service(s) for s in mgr().list(Service, args("type", "name"))]))


@bp.post("/v3/services")
def create_service():
    enforce("identity:manage_services")
    data = body(schemas.create("service", schemas.SERVICE, required=("type",)), "service")
    return jsonify({"service": render_service(mgr().create_service(data))}), 201


@bp.get("/v3/services/<service_id>")
def get_service(service_id):
    enforce("identity:get_service")
    return jsonify({"service": render_service(mgr().get(Service, service_id))})


@bp.patch("/v3/services/<service_id>")
def update_service(service_id):
    enforce("identity:manage_services")
    data = body(schemas.update("service", schemas.SERVICE), "service")
    return jsonify({"service": render_service(mgr().update_service(service_id, data))})


@bp.delete("/v3/services/<service_id>")
def delete_service(service_id):
    enforce("identity:manage_services")
    mgr().delete_service(service_id)
    return "", 204


@bp.get("/v3/endpoints")
def list_endpoints():
    enforce("identity:list_endpoints")
    rows = mgr().list(Endpoint, args("interface", "service_id", "region_id"))
    return jsonify(collection("endpoints", [render_endpoint(e) for e in rows]))


@bp.post("/v3/endpoints")
def create_endpoint():
    enforce("identity:manage_endpoints")
    data = body(schemas.create("endpoint", schemas.ENDPOINT, required=("service_id", "interface", "url")),
                "endpoint")
    return jsonify({"endpoint": render_endpoint(mgr().create_endpoint(data))}), 201


@bp.get("/v3/endpoints/<endpoint_id>")
def get_endpoint(endpoint_id):
    enforce("identity:get_endpoint")
    return jsonify({"endpoint": render_endpoint(mgr().get(Endpoint, endpoint_id))})


@bp.patch("/v3/endpoints/<endpoint_id>")
def update_endpoint(endpoint_id):
    enforce("identity:manage_endpoints")
    data = body(schemas.update("endpoint", schemas.ENDPOINT), "endpoint")
    return jsonify({"endpoint": render_endpoint(mgr().update_endpoint(endpoint_id, data))})


@bp.delete("/v3/endpoints/<endpoint_id>")
def delete_endpoint(endpoint_id):
    enforce("identity:manage_endpoints")
    mgr().delete_endpoint(endpoint_id)
    return "", 204
