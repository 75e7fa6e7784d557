"""/v1/enrol (a site trades a token for a certificate), /v1/sites (inventory) and the sites' mTLS reports."""
from __future__ import annotations

from flask import request

from appliance import pki
from appliance.app import max_body
from appliance.routes import PUBLIC, Call, Route, RouteTable, manager
from services.federation import schemas


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


def list_sites(call: Call) -> dict:
    return {"sites": [manager().render(s) for s in manager().list()]}


def get_site(call: Call) -> dict:
    # no load=: the rule is checked before the lookup, so a caller without it learns nothing (403, never 404)
    return {"site": manager().render(manager().get(call.args["name"]))}


def delete_site(call: Call) -> None:
    manager().revoke(call.args["name"])


# render=dict: the handler's document is the body, sent with `status` (a None result is an empty body)
TABLE = RouteTable("federation_sites", [
    # the token's secret is the credential
    Route("POST", "/v1/enrol", PUBLIC, enrol, schema=schemas.ENROL, render=dict, status=201,
          wrap=(max_body(64 * 1024),)),
    # the site's client certificate is the credential (checked by the manager)
    Route("POST", "/v1/sites/<name>/reports", PUBLIC, report, schema=schemas.REPORT),
    Route("GET", "/v1/sites", "federation:list_sites", list_sites),
    Route("GET", "/v1/sites/<name>", "federation:get_site", get_site),
    Route("DELETE", "/v1/sites/<name>", "federation:delete_site", delete_site, render=dict, status=204),
])
