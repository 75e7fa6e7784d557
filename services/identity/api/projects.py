"""/v3/domains and /v3/projects: two plain resources, projects with Keystone's tag filters."""
from __future__ import annotations

from flask import request

from appliance.routes import RouteTable
from services.identity import schemas
from services.identity.api.crud import Resource, crud
from services.identity.render import render_domain, render_project


def _tags_match(project) -> bool:
    """Keystone's tag filters: tags (all), tags-any, not-tags (not all), not-tags-any (none)."""
    tags = set(project.tags or [])
    want = {k: {t for t in request.args.get(k, "").split(",") if t}
            for k in ("tags", "tags-any", "not-tags", "not-tags-any")}
    if want["tags"] and not want["tags"] <= tags:
        return False
    if want["tags-any"] and not want["tags-any"] & tags:
        return False
    if want["not-tags"] and want["not-tags"] <= tags:
        return False
    return not (want["not-tags-any"] and want["not-tags-any"] & tags)


DOMAINS = Resource("domains", "domain", schemas.DOMAIN, render_domain, filters=("name", "enabled"))
PROJECTS = Resource("projects", "project", schemas.PROJECT, render_project,
                    filters=("name", "domain_id", "enabled", "parent_id"), keep=_tags_match)

TABLE = RouteTable("identity_projects", crud(DOMAINS) + crud(PROJECTS))
