"""/v1/site-groups: named label selectors with rollout limits; a group's document lists the sites it matches."""
from __future__ import annotations

from appliance.routes import Call, Route, RouteTable, manager
from services.federation import schemas


def list_groups(call: Call) -> dict:
    return {"site_groups": [manager().render_group(g) for g in manager().list_groups()]}


def get_group(call: Call) -> dict:
    return {"site_group": manager().render_group(manager().get_group(call.args["name"]), with_sites=True)}


def create_group(call: Call) -> dict:
    return {"site_group": manager().render_group(manager().create_group(call.body["site_group"]), with_sites=True)}


def update_group(call: Call) -> dict:
    row = manager().update_group(call.args["name"], call.body["site_group"])
    return {"site_group": manager().render_group(row, with_sites=True)}


def delete_group(call: Call) -> None:
    manager().delete_group(call.args["name"])


TABLE = RouteTable("federation_groups", [
    Route("GET", "/v1/site-groups", "federation:list_site_groups", list_groups),
    Route("POST", "/v1/site-groups", "federation:create_site_group", create_group,
          schema=schemas.CREATE_SITE_GROUP, render=dict, status=201),
    Route("GET", "/v1/site-groups/<name>", "federation:get_site_group", get_group),
    Route("PATCH", "/v1/site-groups/<name>", "federation:update_site_group", update_group,
          schema=schemas.UPDATE_SITE_GROUP),
    Route("DELETE", "/v1/site-groups/<name>", "federation:delete_site_group", delete_group, render=dict,
          status=204),
])
