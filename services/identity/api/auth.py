"""/v3/auth/*: issue, validate, check and revoke tokens; the token's catalog, projects, domains, system."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from appliance import errors
from appliance.app import json_body, public
from services.identity.api.common import enforce
from services.identity import schemas
from services.identity.api.common import (authn, collection, ctx, link, mgr, render_domain, render_project)
from services.identity.models import Domain, Project

bp = Blueprint("identity_auth", __name__)


def _nocatalog() -> bool:
    return "nocatalog" in request.args


@bp.post("/v3/auth/tokens")
@public
def issue():
    body = json_body(schemas.AUTH)
    data, _ = authn().authenticate(body)
    token = current_app.extensions["egret.tokens"].issue(data)
    resp = jsonify(authn().render(data, catalog=not _nocatalog()))
    resp.status_code = 201
    resp.headers["X-Subject-Token"] = token
    return resp


def _subject():
    subject = request.headers.get("X-Subject-Token")
    if not subject:
        raise errors.BadRequest("Invalid input for field 'X-Subject-Token': the header is required.")
    data = authn().validate(subject)
    enforce("identity:validate_token", {"user_id": data.user_id})
    return subject, data


@bp.get("/v3/auth/tokens")
def validate():
    subject, data = _subject()
    if request.method == "HEAD":
        resp = current_app.response_class(status=200)
    else:
        resp = jsonify(authn().render(data, catalog=not _nocatalog()))
    resp.headers["X-Subject-Token"] = subject
    return resp


@bp.delete("/v3/auth/tokens")
def revoke():
    _, data = _subject()
    enforce("identity:revoke_token", {"user_id": data.user_id})
    mgr().revoke(audit_id=data.audit_ids[0])
    return "", 204


@bp.get("/v3/auth/catalog")
def catalog():
    if ctx().scope == "unscoped":
        raise errors.Forbidden("The catalog needs a scoped token.")
    return jsonify({"catalog": mgr().catalog(ctx().project_id), "links": link("/v3/auth/catalog")})


@bp.get("/v3/auth/projects")
def projects():
    ids = mgr().user_targets(ctx().user_id, "project")
    rows = Project.select().where(Project.id.in_(ids) & (Project.enabled == True)) if ids else []  # noqa: E712
    return jsonify(collection("projects", [render_project(p) for p in rows]))


@bp.get("/v3/auth/domains")
def domains():
    ids = mgr().user_targets(ctx().user_id, "domain")
    rows = Domain.select().where(Domain.id.in_(ids) & (Domain.enabled == True)) if ids else []  # noqa: E712
    return jsonify(collection("domains", [render_domain(d) for d in rows]))


@bp.get("/v3/auth/system")
def system():
    has = bool(mgr().effective_role_ids(ctx().user_id, "system", "all"))
    return jsonify({"system": [{"all": True}] if has else [], "links": link("/v3/auth/system")})
