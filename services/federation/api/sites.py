"""/v1/enrol (a site trades a token for a certificate), /v1/sites (the fleet: list, label, decommission) and the
sites' mTLS reports."""
from __future__ import annotations

from flask import request

from appliance import pki
from appliance.app import max_body
from appliance.routes import PUBLIC, Call, Route, RouteTable, manager
from services.federation import labels, schemas


def enrol(call: Call) -> dict:
    body = call.body
    return manager().enrol(body["secret"], body["site"], body["csr"], body.get("info"))


def report(call: Call) -> dict:
    name = call.args["name"]
    # the client certificate gunicorn verified against the hub CA (--cert-reqs 1), or None
    peer = pki.peer_certificate(request.environ)
    manager().authorize_site(name, peer)  # 401/403 before the body is even looked at
    body = call.body
    return manager().report(name, peer, body["health"], body.get("inventory"))


def renew_certificate(call: Call) -> dict:
    """A new certificate for the site's CSR; its current certificate is the credential and is revoked."""
    name = call.args["name"]
    peer = pki.peer_certificate(request.environ)
    manager().authorize_site(name, peer)  # 401/403 before the body is even looked at
    return manager().renew_certificate(name, peer, call.body["csr"])


def list_sites(call: Call) -> dict:
    """?region=, ?status=, ?label=key=value (repeatable; every pair must match)."""
    selector = labels.parse_pairs(call.query.getlist("label"), "label")
    found = manager().list(region=call.query.get("region"), status=call.query.get("status"), selector=selector)
    return {"sites": [manager().render(s) for s in found]}


def get_site(call: Call) -> dict:
    # no load=: the rule is checked before the lookup, so a caller without it learns nothing (403, never 404)
    return {"site": manager().render(manager().get(call.args["name"]))}


def update_site(call: Call) -> dict:
    return {"site": manager().render(manager().update_site(call.args["name"], call.body["site"]))}


def decommission_site(call: Call) -> dict:
    return {"site": manager().render(manager().decommission(call.args["name"]))}


def delete_site(call: Call) -> None:
    manager().revoke(call.args["name"])


# render=dict: the handler's document is the body, sent with `status` (a None result is an empty body)
TABLE = RouteTable("federation_sites", [
    # the token's secret is the credential
    Route("POST", "/v1/enrol", PUBLIC, enrol, schema=schemas.ENROL, render=dict, status=201,
          wrap=(max_body(64 * 1024),)),
    # the site's client certificate is the credential (checked by the manager)
    Route("POST", "/v1/sites/<name>/reports", PUBLIC, report, schema=schemas.REPORT),
    Route("POST", "/v1/sites/<name>/certificate", PUBLIC, renew_certificate, schema=schemas.RENEW_CERTIFICATE,
          wrap=(max_body(64 * 1024),)),
    Route("GET", "/v1/sites", "federation:list_sites", list_sites),
    Route("GET", "/v1/sites/<name>", "federation:get_site", get_site),
    Route("PATCH", "/v1/sites/<name>", "federation:update_site", update_site, schema=schemas.UPDATE_SITE),
    Route("POST", "/v1/sites/<name>/decommission", "federation:decommission_site", decommission_site,
          body_required=False),
    Route("DELETE", "/v1/sites/<name>", "federation:delete_site", delete_site, render=dict, status=204),
])
