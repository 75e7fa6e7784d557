"""/v1 (version), /v1/ca (the hub CA, public: enrolling sites pin its fingerprint), /v1/signing-key (public: sites
pin it) and enrolment tokens."""
from __future__ import annotations

from appliance.routes import PUBLIC, Call, Route, RouteTable, manager
from services.federation import schemas


def version(call: Call) -> dict:
    return {"version": {"id": "v1", "status": "CURRENT", "hub_url": manager().hub_url}}


def ca(call: Call) -> dict:
    return {"ca_certificate": manager().ca.cert_pem, "fingerprint": manager().ca.fingerprint}


def signing_key(call: Call) -> dict:
    """The hub's Ed25519 public key: sites pin it and verify the bundles the hub signs with it."""
    return {"signing_key": manager().signing_key.public_document()}


def issue_token(call: Call) -> dict:
    return manager().issue_token(call.body.get("ttl", schemas.DEFAULT_TTL), created_by=call.context.user_id or "")


TABLE = RouteTable("federation_hub", [
    Route("GET", "/v1", PUBLIC, version),
    Route("GET", "/v1/ca", PUBLIC, ca),
    Route("GET", "/v1/signing-key", PUBLIC, signing_key),
    Route("POST", "/v1/enrolment-tokens", "federation:issue_enrolment_token", issue_token,
          schema=schemas.ISSUE_TOKEN, body_required=False, render=dict, status=201),
])
