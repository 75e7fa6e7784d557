"""Helpers shared by identity views: the manager, Keystone-style bodies with links, list filters."""
from __future__ import annotations

from flask import current_app, g, request

from appliance import policy
from appliance.app import json_body


def mgr():
    return current_app.extensions["identity.manager"]


def creds():
    return current_app.extensions["identity.credentials"]


def authn():
    return current_app.extensions["identity.authn"]


def ctx():
    return g.context


def _target(target: dict | None) -> dict:
    # lets "admin_required" tell a domain-scoped token apart (see policies.py)
    context = g.get("context")
    return {**(target or {}), "token_domain_id": (context.domain_id if context else None) or "-"}


def check(rule: str, target: dict | None = None) -> bool:
    return policy.check(rule, _target(target))


def enforce(rule: str, target: dict | None = None) -> None:
    policy.enforce(rule, _target(target))


def is_admin() -> bool:
    return check("admin_required")


def base() -> str:
    return request.host_url.rstrip("/")


def link(path: str) -> dict:
    return {"self": base() + path}


def collection(key: str, items: list, **extra) -> dict:
    return {key: items, "links": {"self": base() + request.full_path.rstrip("?"), "previous": None, "next": None},
            **extra}


def args(*names) -> dict:
    return {n: request.args.get(n) for n in names if request.args.get(n) is not None}


def body(schema, key):
    return json_body(schema)[key]


def render_domain(d) -> dict:
    return {"id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled, "tags": [],
            "options": {}, "links": link(f"/v3/domains/{d.id}")}


def render_project(p) -> dict:
    return {**(p.extra or {}), "id": p.id, "name": p.name, "domain_id": p.domain_id,
            "description": p.description, "enabled": p.enabled, "parent_id": p.parent_id or p.domain_id,
            "is_domain": False, "tags": p.tags or [], "options": {}, "links": link(f"/v3/projects/{p.id}")}


def render_user(u) -> dict:
    out = {**(u.extra or {}), "id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
           "password_expires_at": None, "options": {}, "links": link(f"/v3/users/{u.id}")}
    for k in ("default_project_id", "email"):
        if getattr(u, k):
            out[k] = getattr(u, k)
    if u.description:
        out["description"] = u.description
    return out


def render_group(gr) -> dict:
    return {"id": gr.id, "name": gr.name, "domain_id": gr.domain_id, "description": gr.description,
            "links": link(f"/v3/groups/{gr.id}")}


def render_role(r) -> dict:
    return {"id": r.id, "name": r.name, "domain_id": r.domain_id, "description": r.description or None,
            "options": {}, "links": link(f"/v3/roles/{r.id}")}


def render_region(r) -> dict:
    return {"id": r.id, "description": r.description, "parent_region_id": r.parent_region_id,
            "links": link(f"/v3/regions/{r.id}")}


def render_service(s) -> dict:
    return {"id": s.id, "type": s.type, "name": s.name, "description": s.description, "enabled": s.enabled,
            "links": link(f"/v3/services/{s.id}")}


def render_endpoint(e) -> dict:
    return {"id": e.id, "interface": e.interface, "region_id": e.region_id, "region": e.region_id, "url": e.url,
            "service_id": e.service_id, "enabled": e.enabled, "links": link(f"/v3/endpoints/{e.id}")}
