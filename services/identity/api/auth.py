"""/v3/auth/*: issue, validate, check and revoke tokens; the token's catalog, projects, domains, system."""
from __future__ import annotations

from flask import current_app, jsonify, request

from appliance import errors
from appliance.routes import ANY_TOKEN, PUBLIC, Call, Route, RouteTable
from services.identity import schemas
from services.identity.api.common import authn, manager, target
from services.identity.render import collection, link, render_domain, render_project


def _nocatalog() -> bool:
    return "nocatalog" in request.args


def issue(call: Call):
    data, _ = authn().authenticate(call.body)
    token = current_app.extensions["egret.tokens"].issue(data)
    resp = jsonify(authn().render(data, catalog=not _nocatalog()))
    resp.status_code = 201
    resp.headers["X-Subject-Token"] = token
    return resp


def _subject(call: Call) -> dict:
    """The token in X-Subject-Token (validated; 404 if it is not valid); the rule's target is its owner."""
    subject = request.headers.get("X-Subject-Token")
    if not subject:
        raise errors.BadRequest("Invalid input for field 'X-Subject-Token': the header is required.")
    call.resource = (subject, authn().validate(subject))
    return {"user_id": call.resource[1].user_id}


def validate(call: Call):
    """GET (and HEAD: the same check, no body) /v3/auth/tokens."""
    subject, data = call.resource
    if request.method == "HEAD":
        resp = current_app.response_class(status=200)
    else:
        resp = jsonify(authn().render(data, catalog=not _nocatalog()))
    resp.headers["X-Subject-Token"] = subject
    return resp


def revoke(call: Call):
    manager().revoke(audit_id=call.resource[1].audit_ids[0])


def catalog(call: Call):
    if call.context.scope == "unscoped":
        raise errors.Forbidden("The catalog needs a scoped token.")
    return {"catalog": manager().catalog.document(call.project_id), "links": link("/v3/auth/catalog")}


def projects(call: Call):
    return manager().scoped_targets(call.context.user_id, "project")


def domains(call: Call):
    return manager().scoped_targets(call.context.user_id, "domain")


def system(call: Call):
    has = bool(manager().effective_role_ids(call.context.user_id, "system", "all"))
    return {"system": [{"all": True}] if has else [], "links": link("/v3/auth/system")}


TABLE = RouteTable("identity_auth", [
    Route("POST", "/v3/auth/tokens", PUBLIC, issue, schema=schemas.AUTH),
    Route("GET", "/v3/auth/tokens", "identity:validate_token", validate, target=target(_subject)),
    Route("DELETE", "/v3/auth/tokens", "identity:revoke_token", revoke, target=target(_subject), render=dict,
          status=204),
    Route("GET", "/v3/auth/catalog", ANY_TOKEN, catalog, render=dict),
    Route("GET", "/v3/auth/projects", ANY_TOKEN, projects,
          render=lambda rows: collection("projects", [render_project(p) for p in rows])),
    Route("GET", "/v3/auth/domains", ANY_TOKEN, domains,
          render=lambda rows: collection("domains", [render_domain(d) for d in rows])),
    Route("GET", "/v3/auth/system", ANY_TOKEN, system, render=dict),
])
