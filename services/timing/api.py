"""/v1/ptp: the node's PTP profile and clock state (GET), a change of profile (PUT); admin only."""
from __future__ import annotations

from appliance.routes import PUBLIC, Call, Route, RouteTable, manager


def version(call: Call) -> dict:
    return {"version": {"id": "v1", "status": "CURRENT"}}


def show(call: Call) -> dict:
    return manager().show()


def update(call: Call) -> dict:
    return manager().update(call.body["ptp"])


UPDATE = {"type": "object", "properties": {"ptp": {"type": "object"}}, "required": ["ptp"],
          "additionalProperties": False}

TABLE = RouteTable("timing", [
    Route("GET", "/v1", PUBLIC, version),
    Route("GET", "/v1/ptp", "timing:ptp:read", show, render=lambda doc: {"ptp": doc}),
    Route("PUT", "/v1/ptp", "timing:ptp:update", update, schema=UPDATE, render=lambda doc: {"ptp": doc}),
])
