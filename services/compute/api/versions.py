"""Version discovery at / and /v2.1, with the honest microversion range."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from appliance.app import public
from services.compute.microversion import MAX_VERSION, MIN_VERSION, fmt

bp = Blueprint("compute_versions", __name__)


def _v21():
    root = request.host_url.rstrip("/")
    return {"id": "v2.1", "status": "CURRENT", "version": fmt(MAX_VERSION), "min_version": fmt(MIN_VERSION),
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{root}/v2.1/"},
                      {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2.1"}]}


@bp.get("/")
@public
def root():
    return jsonify(versions=[_v21()])


@bp.get("/v2.1")
@bp.get("/v2.1/")
@public
def v21():
    return jsonify(version=_v21())
