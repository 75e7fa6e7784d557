"""/v2.0/quotas: per-project limits (admin sets them; a project reads its own)."""
from flask import Blueprint, jsonify

from appliance.app import json_body
from services.network import schemas
from services.network.api.common import ctx, manager, require_admin
from services.network.errors import forbidden

bp = Blueprint("quotas", __name__)


def _readable(project_id):
    c = ctx()
    if not c.owns(project_id):
        raise forbidden("Only an admin may read another project's quotas.")


@bp.get("/v2.0/quotas")
def list_quotas():
    require_admin(ctx())
    from services.network import models
    projects = sorted({q.project_id for q in models.Quota.select()})
    return jsonify({"quotas": [{**manager().quota_limits(p), "project_id": p, "tenant_id": p} for p in projects]})


@bp.get("/v2.0/quotas/<project_id>")
def show_quota(project_id):
    _readable(project_id)
    return jsonify({"quota": manager().quota_limits(project_id)})


@bp.get("/v2.0/quotas/<project_id>/details")
def quota_details(project_id):
    _readable(project_id)
    limits, used = manager().quota_limits(project_id), manager().quota_usage(project_id)
    return jsonify({"quota": {k: {"limit": v, "used": used.get(k, 0), "reserved": 0} for k, v in limits.items()}})


@bp.put("/v2.0/quotas/<project_id>")
def update_quota(project_id):
    require_admin(ctx())
    body = json_body(schemas.QUOTA_UPDATE)
    return jsonify({"quota": manager().set_quotas(project_id, body["quota"])})


@bp.delete("/v2.0/quotas/<project_id>")
def delete_quota(project_id):
    require_admin(ctx())
    manager().reset_quotas(project_id)
    return "", 204
