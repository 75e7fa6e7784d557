"""Application credentials, /v3/credentials and the OS-EC2 extension `openstack ec2 credentials` uses."""
from __future__ import annotations

import datetime
import json

from flask import Blueprint, jsonify, request

from appliance import errors
from appliance.app import json_body
from services.identity.api.common import check, enforce
from services.identity import schemas
from services.identity.api.common import base, collection, creds, ctx, is_admin, link, mgr
from services.identity.authn import keystone_time
from services.identity.manager import not_found
from services.identity.models import AppCredential, Credential, Role, User

bp = Blueprint("identity_credentials", __name__)


def render_app_cred(c, secret=None) -> dict:
    roles = {r.id: r for r in Role.select().where(Role.id.in_(c.roles or []))}
    out = {"id": c.id, "name": c.name, "description": c.description or None, "user_id": c.user_id,
           "project_id": c.project_id,
           "roles": [{"id": rid, "name": roles[rid].name, "domain_id": None} for rid in c.roles if rid in roles],
           "expires_at": keystone_time(c.expires_at.replace(tzinfo=datetime.timezone.utc).timestamp())
           if c.expires_at else None,
           "unrestricted": c.unrestricted, "access_rules": [],
           "links": link(f"/v3/users/{c.user_id}/application_credentials/{c.id}")}
    if secret is not None:
        out["secret"] = secret
    return out


@bp.post("/v3/users/<user_id>/application_credentials")
def create_app_cred(user_id):
    enforce("identity:create_application_credential", {"user_id": user_id})
    data = json_body(schemas.create("application_credential", schemas.APP_CRED))["application_credential"]
    cred, secret = creds().create_app_cred(user_id, data, ctx())
    return jsonify({"application_credential": render_app_cred(cred, secret)}), 201


@bp.get("/v3/users/<user_id>/application_credentials")
def list_app_creds(user_id):
    enforce("identity:list_application_credentials", {"user_id": user_id})
    mgr().get(User, user_id)
    query = AppCredential.select().where(AppCredential.user_id == user_id).order_by(AppCredential.name)
    if request.args.get("name"):
        query = query.where(AppCredential.name == request.args["name"])
    return jsonify(collection("application_credentials", [render_app_cred(c) for c in query]))


@bp.get("/v3/users/<user_id>/application_credentials/<cred_id>")
def get_app_cred(user_id, cred_id):
    enforce("identity:get_application_credential", {"user_id": user_id})
    return jsonify({"application_credential": render_app_cred(creds().get_app_cred(user_id, cred_id))})


@bp.delete("/v3/users/<user_id>/application_credentials/<cred_id>")
def delete_app_cred(user_id, cred_id):
    enforce("identity:delete_application_credential", {"user_id": user_id})
    creds().delete_app_cred(user_id, cred_id)
    return "", 204


# -- /v3/credentials ------------------------------------------------------------------------------
def render_credential(c) -> dict:
    return {"id": c.id, "user_id": c.user_id, "project_id": c.project_id, "type": c.type, "blob": c.blob,
            "links": link(f"/v3/credentials/{c.id}")}


@bp.get("/v3/credentials")
def list_credentials():
    enforce("identity:list_credentials")
    query = Credential.select().order_by(Credential.created_at, Credential.id)
    if not (is_admin() or check("service_role")):
        query = query.where(Credential.user_id == ctx().user_id)
    for field in ("user_id", "type"):
        if request.args.get(field):
            query = query.where(getattr(Credential, field) == request.args[field])
    return jsonify(collection("credentials", [render_credential(c) for c in query]))


@bp.post("/v3/credentials")
def create_credential():
    data = json_body(schemas.create("credential", schemas.CREDENTIAL,
                                    required=("user_id", "type", "blob")))["credential"]
    enforce("identity:create_credential", {"user_id": data["user_id"]})
    return jsonify({"credential": render_credential(creds().create_credential(data, is_admin()))}), 201


def _owned(cred_id, rule):
    cred = Credential.get_or_none(Credential.id == cred_id)
    # a credential the caller may not see is reported as missing, so ids do not leak
    if cred is None or not check(rule, {"user_id": cred.user_id}):
        raise not_found("credential", cred_id)
    return cred


@bp.get("/v3/credentials/<cred_id>")
def get_credential(cred_id):
    return jsonify({"credential": render_credential(_owned(cred_id, "identity:get_credential"))})


@bp.patch("/v3/credentials/<cred_id>")
def update_credential(cred_id):
    cred = _owned(cred_id, "identity:update_credential")
    data = json_body(schemas.update("credential", schemas.CREDENTIAL))["credential"]
    if "user_id" in data and data["user_id"] != cred.user_id:
        raise errors.BadRequest("Invalid input for field 'user_id': a credential cannot change owner.")
    return jsonify({"credential": render_credential(creds().update_credential(cred.id, data))})


@bp.delete("/v3/credentials/<cred_id>")
def delete_credential(cred_id):
    _owned(cred_id, "identity:delete_credential").delete_instance()
    return "", 204


# -- OS-EC2 ---------------------------------------------------------------------------------------
def render_ec2(c) -> dict:
    blob = json.loads(c.blob)
    return {"user_id": c.user_id, "tenant_id": c.project_id, "access": blob.get("access"),
            "secret": blob.get("secret"), "trust_id": None,
            "links": {"self": base() + f"/v3/users/{c.user_id}/credentials/OS-EC2/{blob.get('access')}"}}


@bp.post("/v3/users/<user_id>/credentials/OS-EC2")
def create_ec2(user_id):
    enforce("identity:ec2_credentials", {"user_id": user_id})
    data = json_body(schemas.EC2_CREATE)
    return jsonify({"credential": render_ec2(creds().create_ec2(user_id, data["tenant_id"], is_admin()))}), 201


@bp.get("/v3/users/<user_id>/credentials/OS-EC2")
def list_ec2(user_id):
    enforce("identity:ec2_credentials", {"user_id": user_id})
    mgr().get(User, user_id)
    rows = Credential.select().where((Credential.user_id == user_id) & (Credential.type == "ec2"))
    return jsonify(collection("credentials", [render_ec2(c) for c in rows.order_by(Credential.created_at)]))


@bp.get("/v3/users/<user_id>/credentials/OS-EC2/<access>")
def get_ec2(user_id, access):
    enforce("identity:ec2_credentials", {"user_id": user_id})
    return jsonify({"credential": render_ec2(creds().ec2_by_access(user_id, access))})


@bp.delete("/v3/users/<user_id>/credentials/OS-EC2/<access>")
def delete_ec2(user_id, access):
    enforce("identity:ec2_credentials", {"user_id": user_id})
    creds().ec2_by_access(user_id, access).delete_instance()
    return "", 204
