"""Response documents of the storage APIs: Glance images and members, Cinder volumes, snapshots, types, attachments."""
from __future__ import annotations

from flask import request

from appliance import pki, policy, routes
from services.storage.models import Attachment


def _cinder_ts(value):
    return value.strftime("%Y-%m-%dT%H:%M:%S.000000") if value else None


def _glance_ts(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


# --- Glance ---------------------------------------------------------------------------------------------------
def image(img) -> dict:
    doc = {"id": img.id, "name": img.name, "status": img.status, "visibility": img.visibility,
           "protected": img.protected, "os_hidden": img.os_hidden, "checksum": img.checksum,
           "os_hash_algo": img.os_hash_algo, "os_hash_value": img.os_hash_value, "owner": img.owner,
           "size": img.size, "virtual_size": img.virtual_size, "min_ram": img.min_ram, "min_disk": img.min_disk,
           "disk_format": img.disk_format, "container_format": img.container_format,
           "created_at": _glance_ts(img.created_at), "updated_at": _glance_ts(img.updated_at),
           "tags": list(img.tags), "self": f"/v2/images/{img.id}", "file": f"/v2/images/{img.id}/file",
           "schema": "/v2/schemas/image"}
    for key, value in img.properties.items():
        doc.setdefault(key, value)
    return doc


def member(m) -> dict:
    return {"image_id": m.image_id, "member_id": m.member_id, "status": m.status,
            "created_at": _glance_ts(m.created_at), "updated_at": _glance_ts(m.updated_at),
            "schema": "/v2/schemas/member"}


# --- Cinder ---------------------------------------------------------------------------------------------------
def attachment_summary(a) -> dict:
    return {"id": a.volume_id, "attachment_id": a.id, "volume_id": a.volume_id, "server_id": a.instance_uuid,
            "host_name": (a.connector or {}).get("host"), "device": a.mountpoint,
            "attached_at": _cinder_ts(a.attached_at)}


HOST_ATTR_RULE = "volume_extension:volume_host_attribute"


def volume(v, detail=True) -> dict:
    host = request.host_url.rstrip("/")
    links = [{"rel": "self", "href": f"{host}/v3/{v.project_id}/volumes/{v.id}"},
             {"rel": "bookmark", "href": f"{host}/{v.project_id}/volumes/{v.id}"}]
    if not detail:
        return {"id": v.id, "name": v.name, "links": links}
    vtype = v.volume_type
    doc = {"id": v.id, "name": v.name, "description": v.description, "size": v.size, "status": v.status,
           "availability_zone": v.availability_zone, "created_at": _cinder_ts(v.created_at),
           "updated_at": _cinder_ts(v.updated_at),
           "volume_type": vtype.name if vtype else None, "volume_type_id": vtype.id if vtype else None,
           "bootable": "true" if v.bootable else "false", "encrypted": False,
           "multiattach": routes.manager().volumes.multiattach(v), "replication_status": None,
           "consistencygroup_id": None, "group_id": None, "provider_id": None, "service_uuid": None,
           "shared_targets": False, "cluster_name": None, "consumes_quota": True, "migration_status": None,
           "snapshot_id": v.snapshot_id, "source_volid": v.source_volid, "user_id": v.user_id,
           "os-vol-tenant-attr:tenant_id": v.project_id, "metadata": dict(v.metadata),
           "attachments": [attachment_summary(a) for a in
                           Attachment.select().where((Attachment.volume == v.id) &
                                                     (Attachment.status == "attached"))],
           "links": links}
    if v.image_metadata:
        doc["volume_image_metadata"] = dict(v.image_metadata)
    # where the volume's file lives (a site's compute places and attaches by it); Cinder shows it to admins only
    if policy.check(HOST_ATTR_RULE, {"project_id": v.project_id}):
        doc["os-vol-host-attr:host"] = volume_host(routes.manager().settings)
    return doc


def volume_host(settings) -> str:
    """Cinder's "<host>@<backend>#<pool>": the host is this storage box's name in its site."""
    return f"{pki.node_name(settings)}@file#file"


def snapshot(s) -> dict:
    return {"id": s.id, "name": s.name, "description": s.description, "volume_id": s.volume_id, "size": s.size,
            "status": s.status, "created_at": _cinder_ts(s.created_at), "updated_at": _cinder_ts(s.updated_at),
            "metadata": dict(s.metadata), "user_id": s.user_id, "group_snapshot_id": None,
            "os-extended-snapshot-attributes:project_id": s.project_id,
            "os-extended-snapshot-attributes:progress": "100%" if s.status == "available" else "0%",
            "consumes_quota": True}


def volume_type(t) -> dict:
    return {"id": t.id, "name": t.name, "description": t.description, "is_public": t.is_public,
            "os-volume-type-access:is_public": t.is_public, "extra_specs": dict(t.extra_specs),
            "qos_specs_id": None}


AUTH_PASSWORD_RULE = "volume_extension:attachment_auth_password"


def attachment(a, detail=True) -> dict:
    doc = {"id": a.id, "status": a.status, "instance": a.instance_uuid, "volume_id": a.volume_id}
    if detail:
        info = routes.manager().attachments.connection_info(a)
        data = info.get("data") or {}
        if "auth_password" in data and not policy.check(AUTH_PASSWORD_RULE, {"project_id": a.volume.project_id}):
            info = {**info, "data": {k: v for k, v in data.items() if k != "auth_password"}}
        doc.update({"attached_at": _cinder_ts(a.attached_at), "detached_at": None, "attach_mode": a.attach_mode,
                    "connection_info": info, "connector": a.connector})
    return doc
