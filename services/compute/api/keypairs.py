"""/os-keypairs: a user's own key pairs (an admin may name another user's)."""
from __future__ import annotations

from flask import jsonify

from appliance.errors import BadRequest
from appliance.routes import Route, RouteTable, manager
from services.compute import keypairs, render, schemas
from services.compute.microversion import at_least

RULE = "compute:keypairs"


def _query_user(call) -> dict:
    """The key pairs' owner: ?user_id=, or the caller."""
    return {"user_id": call.query.get("user_id") or call.context.user_id}


def _body_user(call) -> dict:
    return {"user_id": call.body["keypair"].get("user_id") or call.context.user_id}


def index(call):
    rows = keypairs.list_for(_query_user(call)["user_id"])
    return jsonify(keypairs=[{"keypair": render.keypair(k, detail=False)} for k in rows])


def create(call):
    body = call.body["keypair"]
    if at_least(92) and "public_key" not in body:
        raise BadRequest("Invalid input for field 'keypair/public_key': 'public_key' is a required property.")
    kp, private = manager().create_keypair(_body_user(call)["user_id"], body["name"], body.get("public_key"),
                                           body.get("type", "ssh"))
    shown = render.keypair(kp, with_private=private, detail=False)
    shown["user_id"] = kp.user_id
    return jsonify(keypair=shown), 201 if at_least(2) else 200


def _keypair(call):
    return manager().get_keypair(_query_user(call)["user_id"], call.args["name"])


def show(call):
    return jsonify(keypair=render.keypair(_keypair(call)))


def delete(call):
    keypairs.delete(_keypair(call))
    return "", 202 if not at_least(2) else 204


# the target is the key pairs' user, not a project: key pairs belong to users, as in Nova
TABLE = RouteTable("compute_keypairs", [
    Route("GET", "/v2.1/os-keypairs", RULE, index, target=_query_user),
    Route("POST", "/v2.1/os-keypairs", RULE, create, schema=schemas.CREATE_KEYPAIR, target=_body_user),
    Route("GET", "/v2.1/os-keypairs/<name>", RULE, show, target=_query_user),
    Route("DELETE", "/v2.1/os-keypairs/<name>", RULE, delete, target=_query_user),
])
