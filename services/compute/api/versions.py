"""Version discovery at / and /v2.1, with the honest microversion range."""
from __future__ import annotations

from flask import jsonify, request

from appliance.routes import PUBLIC, Route, RouteTable
from services.compute.microversion import MAX_VERSION, MIN_VERSION, fmt


def _v21():
    root = request.host_url.rstrip("/")
    return {"id": "v2.1", "status": "CURRENT", "version": fmt(MAX_VERSION), "min_version": fmt(MIN_VERSION),
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{root}/v2.1/"},
                      {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2.1"}]}


def root(call):
    return jsonify(versions=[_v21()])


def v21(call):
    return jsonify(version=_v21())


# clients discover the API before they have a token
TABLE = RouteTable("compute_versions", [
    Route("GET", "/", PUBLIC, root),
    Route("GET", "/v2.1", PUBLIC, v21),
    Route("GET", "/v2.1/", PUBLIC, v21),
])
