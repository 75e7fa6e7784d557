"""Keystone v3 response documents: one render function per resource, links built from the request's host."""
from __future__ import annotations

import datetime
import json

from flask import request

from services.identity.authn import keystone_time


def base() -> str:
    return request.host_url.rstrip("/")


def link(path: str) -> dict:
    return {"self": base() + path}


def collection(key: str, items: list, **extra) -> dict:
    return {key: items, "links": {"self": base() + request.full_path.rstrip("?"), "previous": None, "next": None},
            **extra}


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


def render_role_ref(role) -> dict:
    """A role as implied-role documents name it."""
    return {"id": role.id, "name": role.name, "links": link(f"/v3/roles/{role.id}")}


def render_region(r) -> dict:
    return {"id": r.id, "description": r.description, "parent_region_id": r.parent_region_id,
            "links": link(f"/v3/regions/{r.id}")}


def render_service(s) -> dict:
    return {"id": s.id, "type": s.type, "name": s.name, "description": s.description, "enabled": s.enabled,
            "links": link(f"/v3/services/{s.id}")}


def render_endpoint(e) -> dict:
    return {"id": e.id, "interface": e.interface, "region_id": e.region_id, "region": e.region_id, "url": e.url,
            "service_id": e.service_id, "enabled": e.enabled, "links": link(f"/v3/endpoints/{e.id}")}


def render_assignment(row: dict) -> dict:
    """A role assignment; `row["names"]` (actor, role, target refs with names) when include_names asked."""
    actor_key, target_key = row["actor_type"], row["target_type"]
    if "names" in row:
        actor, role, target = row["names"]["actor"], row["names"]["role"], row["names"]["target"]
    else:
        actor, role = {"id": row["actor_id"]}, {"id": row["role_id"]}
        target = {"all": True} if target_key == "system" else {"id": row["target_id"]}
    path = ("/v3/system" if target_key == "system" else f"/v3/{target_key}s/{row['target_id']}") + \
        f"/{actor_key}s/{row['actor_id']}/roles/{row['role_id']}"
    out = {"role": role, actor_key: actor, "scope": {target_key: target}, "links": {"assignment": base() + path}}
    if row.get("via_group"):
        out["links"]["membership"] = base() + f"/v3/groups/{row['via_group']}/users/{row['actor_id']}"
    if row.get("prior_role"):
        out["links"]["prior_role"] = base() + f"/v3/roles/{row['prior_role']}"
    return out


def render_app_cred(c, role_names: dict[str, str], secret=None) -> dict:
    """An application credential; `role_names` maps its role ids to names (ids of deleted roles are left out)."""
    out = {"id": c.id, "name": c.name, "description": c.description or None, "user_id": c.user_id,
           "project_id": c.project_id,
           "roles": [{"id": rid, "name": role_names[rid], "domain_id": None} for rid in c.roles if rid in role_names],
           "expires_at": keystone_time(c.expires_at.replace(tzinfo=datetime.timezone.utc).timestamp())
           if c.expires_at else None,
           "unrestricted": c.unrestricted, "access_rules": [],
           "links": link(f"/v3/users/{c.user_id}/application_credentials/{c.id}")}
    if secret is not None:
        out["secret"] = secret
    return out


def render_credential(c) -> dict:
    return {"id": c.id, "user_id": c.user_id, "project_id": c.project_id, "type": c.type, "blob": c.blob,
            "links": link(f"/v3/credentials/{c.id}")}


def render_ec2(c) -> dict:
    blob = json.loads(c.blob)
    return {"user_id": c.user_id, "tenant_id": c.project_id, "access": blob.get("access"),
            "secret": blob.get("secret"), "trust_id": None,
            "links": {"self": base() + f"/v3/users/{c.user_id}/credentials/OS-EC2/{blob.get('access')}"}}
