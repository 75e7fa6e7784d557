"""Version discovery: GET / (300 with the versions list) and GET /v3 (the v3 document); no token."""
from __future__ import annotations

from flask import jsonify, request

from appliance.routes import PUBLIC, Route, RouteTable

MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]


def _v3() -> dict:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": request.host_url.rstrip("/") + "/v3/"}],
            "media-types": MEDIA_TYPES}


def versions(call):
    resp = jsonify({"versions": {"values": [_v3()]}})
    resp.status_code = 300
    resp.headers["Location"] = request.host_url.rstrip("/") + "/v3/"
    return resp


def v3(call):
    return {"version": _v3()}


TABLE = RouteTable("identity_discovery", [
    Route("GET", "/", PUBLIC, versions),
    Route("GET", "/v3", PUBLIC, v3, render=dict),
    Route("GET", "/v3/", PUBLIC, v3, render=dict),
])
