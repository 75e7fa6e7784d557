"""/v3/domains and /v3/projects."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from services.identity.api.common import enforce
from services.identity import schemas
from services.identity.api.common import args, body, collection, mgr, render_domain, render_project
from services.identity.models import Domain, Project

bp = Blueprint("identity_projects", __name__)


@bp.get("/v3/domains")
def list_domains():
    enforce("identity:list_domains")
    rows = mgr().list(Domain, args("name", "enabled"))
    return jsonify(collection("domains", [render_domain(d) for d in rows]))


@bp.post("/v3/domains")
def create_domain():
    enforce("identity:create_domain")
    data = body(schemas.create("domain", schemas.DOMAIN), "domain")
    return jsonify({"domain": render_domain(mgr().create_domain(data))}), 201


@bp.get("/v3/domains/<domain_id>")
def get_domain(domain_id):
    enforce("identity:get_domain", {"domain_id": domain_id})
    return jsonify({"domain": render_domain(mgr().get(Domain, domain_id))})


@bp.patch("/v3/domains/<domain_id>")
def update_domain(domain_id):
    enforce("identity:update_domain", {"domain_id": domain_id})
    data = body(schemas.update("domain", schemas.DOMAIN), "domain")
    return jsonify({"domain": render_domain(mgr().update_domain(domain_id, data))})


@bp.delete("/v3/domains/<domain_id>")
def delete_domain(domain_id):
    enforce("identity:delete_domain", {"domain_id": domain_id})
    mgr().delete_domain(domain_id)
    return "", 204


@bp.get("/v3/projects")
def list_projects():
    enforce("identity:list_projects")
    rows = mgr().list(Project, args("name", "domain_id", "enabled", "parent_id"))
    rows = [p for p in rows if _tags_match(set(p.tags or []))]
    return jsonify(collection("projects", [render_project(p) for p in rows]))


def _tags_match(tags: set) -> bool:
    """Keystone's tag filters: tags (all), tags-any, not-tags (not all), not-tags-any (none)."""
    want = {k: {t for t in request.args.get(k, "").split(",") if t}
            for k in ("tags", "tags-any", "not-tags", "not-tags-any")}
    if want["tags"] and not want["tags"] <= tags:
        return False
    if want["tags-any"] and not want["tags-any"] & tags:
        return False
    if want["not-tags"] and want["not-tags"] <= tags:
        return False
    return not (want["not-tags-any"] and want["not-tags-any"] & tags)


@bp.post("/v3/projects")
def create_project():
    enforce("identity:create_project")
    data = body(schemas.create("project", schemas.PROJECT), "project")
    return jsonify({"project": render_project(mgr().create_project(data))}), 201


@bp.get("/v3/projects/<project_id>")
def get_project(project_id):
    enforce("identity:get_project", {"project_id": project_id})
    return jsonify({"project": render_project(mgr().get(Project, project_id))})


@bp.patch("/v3/projects/<project_id>")
def update_project(project_id):
    enforce("identity:update_project", {"project_id": project_id})
    data = body(schemas.update("project", schemas.PROJECT), "project")
    return jsonify({"project": render_project(mgr().update_project(project_id, data))})


@bp.delete("/v3/projects/<project_id>")
def delete_project(project_id):
    enforce("identity:delete_project", {"project_id": project_id})
    mgr().delete_project(project_id)
    return "", 204
