"""/v1 (version), /v1/ca (the hub CA, public: enrolling sites pin its fingerprint) and enrolment tokens."""
from __future__ import annotations

from flask import Blueprint, jsonify

from appliance.app import context, json_body, public
from appliance.policy import enforce
from services.federation import schemas
from services.federation.api.common import mgr

bp = Blueprint("federation_hub", __name__)


@bp.get("/v1")
@public
def version():
    return jsonify({"version": {"id": "v1", "status": "CURRENT", "hub_url": mgr().hub_url}})


@bp.get("/v1/ca")
@public
def ca():
    return jsonify({"ca_certificate": mgr().ca.cert_pem, "fingerprint": mgr().ca.fingerprint})


@bp.post("/v1/enrolment-tokens")
def issue_token():
    enforce("federation:issue_enrolment_token")
    body = json_body(schemas.ISSUE_TOKEN, required=False)
    issued = mgr().issue_token(body.get("ttl", schemas.DEFAULT_TTL), created_by=context().user_id or "")
    return jsonify(issued), 201
