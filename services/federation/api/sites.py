"""/v1/enrol (a site trades a token for a certificate), /v1/sites (inventory) and the sites' mTLS reports."""
from __future__ import annotations

from flask import Blueprint, jsonify

from appliance.app import json_body, max_body, public
from appliance.policy import enforce
from services.federation import schemas
from services.federation.api.common import mgr, peer_certificate

bp = Blueprint("federation_sites", __name__)


@bp.post("/v1/enrol")
@public  # the token's secret is the credential
@max_body(64 * 1024)
def enrol():
    body = json_body(schemas.ENROL)
    result = mgr().enrol(body["secret"], body["site"], body["csr"], body.get("info"))
    return jsonify(result), 201


@bp.post("/v1/sites/<name>/reports")
@public  # the site's client certificate is the credential (checked by the manager)
def report(name):
    peer = peer_certificate()
    mgr().authorize_site(name, peer)  # 401/403 before the body is even looked at
    body = json_body(schemas.REPORT)
    return jsonify(mgr().report(name, peer, body["health"], body.get("inventory")))


@bp.get("/v1/sites")
def list_sites():
    enforce("federation:list_sites")
    return jsonify({"sites": [mgr().render(s) for s in mgr().list()]})


@bp.get("/v1/sites/<name>")
def get_site(name):
    enforce("federation:get_site")
    return jsonify({"site": mgr().render(mgr().get(name))})


@bp.delete("/v1/sites/<name>")
def delete_site(name):
    enforce("federation:delete_site")
    mgr().revoke(name)
    return "", 204
