"""Cinder v3 API: discovery, microversions, volumes, actions, snapshots, types, quotas, limits."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from appliance import errors
from appliance.app import json_body, public
from appliance.policy import enforce
from services.storage import schemas
from services.storage.models import Attachment, Snapshot, Volume, VolumeType

bp = Blueprint("volumes", __name__)
MIN_VERSION, MAX_VERSION = (3, 0), (3, 70)
P = "/v3/<project_id>"


def storage():
    return current_app.extensions["egret.storage"]


def vm():
    return storage().volumes


def _ts(value):
    return value.strftime("%Y-%m-%dT%H:%M:%S.000000") if value else None


def _version_doc():
    host = request.host_url.rstrip("/")
    return {"id": "v3.0", "status": "CURRENT", "version": "%d.%d" % MAX_VERSION,
            "min_version": "%d.%d" % MIN_VERSION, "updated": "2023-03-01T00:00:00Z",
            "links": [{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
                      {"rel": "self", "href": f"{host}/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}


@bp.get("/")
@public
def root():
    resp = jsonify(versions=[_version_doc()])
    resp.status_code = 300
    return resp


@bp.get("/v3/")
@bp.get("/v3")
@public
def v3():
    return jsonify(versions=[_version_doc()])


def negotiate():
    """OpenStack-API-Version: volume 3.x; 'latest' means our max; outside the range is 406."""
    raw = request.headers.get("OpenStack-API-Version", "")
    version = MIN_VERSION
    for part in raw.split(","):
        words = part.strip().split()
        if len(words) == 2 and words[0].lower() in ("volume", "block-storage"):
            if words[1] == "latest":
                version = MAX_VERSION
            else:
                try:
                    major, minor = (int(x) for x in words[1].split("."))
                except ValueError:
                    raise errors.BadRequest(f"Invalid API version request {words[1]!r}.") from None
                version = (major, minor)
                if not MIN_VERSION <= version <= MAX_VERSION:
                    raise errors.NotAcceptable(f"Version {words[1]} is not supported by the API. Minimum is "
                                               "%d.%d and maximum is %d.%d." % (*MIN_VERSION, *MAX_VERSION))
    g.volume_version = version


def echo_version(resp):
    version = g.get("volume_version", MIN_VERSION)
    resp.headers["OpenStack-API-Version"] = "volume %d.%d" % version
    resp.headers["Vary"] = "OpenStack-API-Version"
    return resp


def register(app):
    app.before_request(negotiate)
    app.after_request(echo_version)
    app.register_blueprint(bp)


# --- rendering ------------------------------------------------------------------------------------------------
def render_attachment_summary(a):
    return {"id": a.volume_id, "attachment_id": a.id, "volume_id": a.volume_id, "server_id": a.instance_uuid,
            "host_name": (a.connector or {}).get("host"), "device": a.mountpoint, "attached_at": _ts(a.attached_at)}


def render_volume(v, detail=True):
    host = request.host_url.rstrip("/")
    links = [{"rel": "self", "href": f"{host}/v3/{v.project_id}/volumes/{v.id}"},
             {"rel": "bookmark", "href": f"{host}/{v.project_id}/volumes/{v.id}"}]
    if not detail:
        return {"id": v.id, "name": v.name, "links": links}
    vtype = v.volume_type
    doc = {"id": v.id, "name": v.name, "description": v.description, "size": v.size, "status": v.status,
           "availability_zone": v.availability_zone, "created_at": _ts(v.created_at), "updated_at": _ts(v.updated_at),
           "volume_type": vtype.name if vtype else None, "volume_type_id": vtype.id if vtype else None,
           "bootable": "true" if v.bootable else "false", "encrypted": False,
           "multiattach": vm().multiattach(v), "replication_status": None, "consistencygroup_id": None,
           "group_id": None, "provider_id": None, "service_uuid": None, "shared_targets": False,
           "cluster_name": None, "consumes_quota": True, "migration_status": None,
           "snapshot_id": v.snapshot_id, "source_volid": v.source_volid, "user_id": v.user_id,
           "os-vol-tenant-attr:tenant_id": v.project_id, "metadata": dict(v.metadata),
           "attachments": [render_attachment_summary(a) for a in
                           Attachment.select().where((Attachment.volume == v.id) &
                                                     (Attachment.status == "attached"))],
           "links": links}
    if v.image_metadata:
        doc["volume_image_metadata"] = dict(v.image_metadata)
    return doc


def render_snapshot(s):
    return {"id": s.id, "name": s.name, "description": s.description, "volume_id": s.volume_id, "size": s.size,
            "status": s.status, "created_at": _ts(s.created_at), "updated_at": _ts(s.updated_at),
            "metadata": dict(s.metadata), "user_id": s.user_id, "group_snapshot_id": None,
            "os-extended-snapshot-attributes:project_id": s.project_id,
            "os-extended-snapshot-attributes:progress": "100%" if s.status == "available" else "0%",
            "consumes_quota": True}


def render_type(t):
    return {"id": t.id, "name": t.name, "description": t.description, "is_public": t.is_public,
            "os-volume-type-access:is_public": t.is_public, "extra_specs": dict(t.extra_specs),
            "qos_specs_id": None}


def _body(key):
    body = json_body(schemas.wrapped(key))
    return body[key]


# --- volumes ----------------------------------------------------------------------------------------------------
def _list(detail):
    rows, more = vm().list(g.context, request.args)
    doc = {"volumes": [render_volume(v, detail) for v in rows]}
    if more and rows:
        doc["volumes_links"] = [{"rel": "next", "href": f"{request.base_url}?marker={rows[-1].id}"
                                                        f"&limit={request.args.get('limit')}"}]
    if request.args.get("with_count"):
        doc["count"] = len(rows)
    return jsonify(doc)


@bp.get(f"{P}/volumes")
def list_volumes(project_id):
    return _list(False)


@bp.get(f"{P}/volumes/detail")
def list_volumes_detail(project_id):
    return _list(True)


@bp.post(f"{P}/volumes")
def create_volume(project_id):
    vol = vm().create(_body("volume"), g.context)
    resp = jsonify(volume=render_volume(vol))
    resp.status_code = 202
    return resp


@bp.get(f"{P}/volumes/<volume_id>")
def show_volume(project_id, volume_id):
    return jsonify(volume=render_volume(vm().get(volume_id, g.context)))


@bp.put(f"{P}/volumes/<volume_id>")
def update_volume(project_id, volume_id):
    return jsonify(volume=render_volume(vm().update(volume_id, _body("volume"), g.context)))


@bp.delete(f"{P}/volumes/<volume_id>")
def delete_volume(project_id, volume_id):
    cascade = request.args.get("cascade", "false").lower() in ("true", "1")
    vm().delete(volume_id, g.context, cascade=cascade)
    return "", 202


@bp.get(f"{P}/volumes/<volume_id>/metadata")
def get_metadata(project_id, volume_id):
    return jsonify(metadata=vm().get(volume_id, g.context).metadata)


@bp.post(f"{P}/volumes/<volume_id>/metadata")
def add_metadata(project_id, volume_id):
    return jsonify(metadata=vm().set_metadata(volume_id, _body("metadata"), g.context, replace=False))


@bp.put(f"{P}/volumes/<volume_id>/metadata")
def replace_metadata(project_id, volume_id):
    return jsonify(metadata=vm().set_metadata(volume_id, _body("metadata"), g.context, replace=True))


@bp.delete(f"{P}/volumes/<volume_id>/metadata/<key>")
def delete_metadata(project_id, volume_id, key):
    vm().delete_metadata(volume_id, key, g.context)
    return "", 200


LEGACY = {"os-reserve", "os-unreserve", "os-attach", "os-detach", "os-begin_detaching", "os-roll_detaching",
          "os-initialize_connection", "os-terminate_connection"}


@bp.post(f"{P}/volumes/<volume_id>/action")
def volume_action(project_id, volume_id):
    body = json_body({"type": "object", "minProperties": 1, "maxProperties": 1})
    action, args = next(iter(body.items()))
    if action in LEGACY:
        result = storage().attachments.legacy(volume_id, action, args, g.context)
        return (jsonify(result), 200) if result is not None else ("", 202)
    args = args if isinstance(args, dict) else {}
    if action == "os-extend":
        if "new_size" not in args:
            raise errors.BadRequest("Invalid input for field 'os-extend/new_size': it is required.")
        vm().extend(volume_id, args["new_size"], g.context)
    elif action == "os-set_bootable":
        vm().set_bootable(volume_id, args.get("bootable"), g.context)
        return "", 200
    elif action == "os-reset_status":
        vm().reset_status(volume_id, args, g.context)
    elif action == "os-force_delete":
        vol = vm().get(volume_id, g.context)
        enforce("volume:reset_status", {"project_id": vol.project_id})
        vm().delete(volume_id, g.context, cascade=True, force=True)
    elif action == "os-update_readonly_flag":
        vm().get(volume_id, g.context, "volume:write")
    else:
        raise errors.BadRequest(f"Invalid input: there is no volume action {action!r}.")
    return "", 202


# --- snapshots --------------------------------------------------------------------------------------------------
@bp.get(f"{P}/snapshots")
@bp.get(f"{P}/snapshots/detail")
def list_snapshots(project_id):
    rows, _ = vm().list(g.context, request.args, model=Snapshot)
    return jsonify(snapshots=[render_snapshot(s) for s in rows])


@bp.post(f"{P}/snapshots")
def create_snapshot(project_id):
    snap = vm().create_snapshot(_body("snapshot"), g.context)
    resp = jsonify(snapshot=render_snapshot(snap))
    resp.status_code = 202
    return resp


@bp.get(f"{P}/snapshots/<snapshot_id>")
def show_snapshot(project_id, snapshot_id):
    return jsonify(snapshot=render_snapshot(vm().get_snapshot(snapshot_id, g.context)))


@bp.put(f"{P}/snapshots/<snapshot_id>")
def update_snapshot(project_id, snapshot_id):
    return jsonify(snapshot=render_snapshot(vm().update_snapshot(snapshot_id, _body("snapshot"), g.context)))


@bp.delete(f"{P}/snapshots/<snapshot_id>")
def delete_snapshot(project_id, snapshot_id):
    vm().delete_snapshot(snapshot_id, g.context)
    return "", 202


# --- types --------------------------------------------------------------------------------------------------------
@bp.get(f"{P}/types")
def list_types(project_id):
    query = VolumeType.select().order_by(VolumeType.name)
    if not vm_is_admin():
        query = query.where(VolumeType.is_public == True)  # noqa: E712 (peewee expression)
    return jsonify(volume_types=[render_type(t) for t in query])


def vm_is_admin():
    from services.storage.volumes import is_admin
    return is_admin(g.context)


@bp.get(f"{P}/types/default")
def default_type(project_id):
    return jsonify(volume_type=render_type(vm().ensure_default_type()))


@bp.get(f"{P}/types/<type_id>")
def show_type(project_id, type_id):
    vt = VolumeType.get_or_none(VolumeType.id == type_id)
    if vt is None or (not vt.is_public and not vm_is_admin()):
        raise errors.NotFound(f"Volume type {type_id} could not be found.")
    return jsonify(volume_type=render_type(vt))


def _check_specs(specs):
    if not isinstance(specs, dict) or not all(isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 255
                                              and len(v) <= 255 for k, v in specs.items()):
        raise errors.BadRequest("Invalid input for field 'extra_specs': keys and values are strings of at most "
                                "255 characters.")
    return specs


@bp.post(f"{P}/types")
def create_type(project_id):
    enforce("volume:manage_types", {})
    body = _body("volume_type")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise errors.BadRequest("Invalid input for field 'volume_type/name': a string of 1-255 characters.")
    if VolumeType.select().where(VolumeType.name == name).exists():
        raise errors.Conflict(f"Volume Type {name} already exists.")
    public_flag = body.get("os-volume-type-access:is_public", body.get("is_public", True))
    vt = VolumeType.create(name=name, description=body.get("description"),
                           is_public=schemas.to_bool(public_flag),
                           extra_specs=_check_specs(body.get("extra_specs") or {}))
    return jsonify(volume_type=render_type(vt))


def _type_for_admin(type_id):
    enforce("volume:manage_types", {})
    vt = VolumeType.get_or_none(VolumeType.id == type_id)
    if vt is None:
        raise errors.NotFound(f"Volume type {type_id} could not be found.")
    return vt


@bp.put(f"{P}/types/<type_id>")
def update_type(project_id, type_id):
    vt = _type_for_admin(type_id)
    body = _body("volume_type")
    for field in ("name", "description"):
        if field in body:
            setattr(vt, field, body[field])
    if "is_public" in body:
        vt.is_public = schemas.to_bool(body["is_public"])
    vt.save()
    return jsonify(volume_type=render_type(vt))


@bp.delete(f"{P}/types/<type_id>")
def delete_type(project_id, type_id):
    vt = _type_for_admin(type_id)
    if Volume.select().where(Volume.volume_type == vt.id).exists():
        raise errors.BadRequest(f"Target volume type {vt.id} is still in use.")
    vt.delete_instance()
    return "", 202


@bp.get(f"{P}/types/<type_id>/extra_specs")
def get_specs(project_id, type_id):
    vt = VolumeType.get_or_none(VolumeType.id == type_id)
    if vt is None:
        raise errors.NotFound(f"Volume type {type_id} could not be found.")
    return jsonify(extra_specs=vt.extra_specs)


@bp.post(f"{P}/types/<type_id>/extra_specs")
def set_specs(project_id, type_id):
    vt = _type_for_admin(type_id)
    vt.extra_specs = {**vt.extra_specs, **_check_specs(_body("extra_specs"))}
    vt.save()
    return jsonify(extra_specs=vt.extra_specs)


@bp.delete(f"{P}/types/<type_id>/extra_specs/<key>")
def delete_spec(project_id, type_id, key):
    vt = _type_for_admin(type_id)
    if key not in vt.extra_specs:
        raise errors.NotFound(f"Volume type extra spec {key} could not be found.")
    vt.extra_specs = {k: v for k, v in vt.extra_specs.items() if k != key}
    vt.save()
    return "", 202


# --- quotas, limits, misc -------------------------------------------------------------------------------------------
def _quota_doc(target, usage):
    limits = vm().quotas(target)
    doc = {"id": target}
    used = vm().usage(target) if usage else {}
    for key, limit in limits.items():
        doc[key] = {"limit": limit, "in_use": used.get(key, 0), "reserved": 0, "allocated": 0} if usage else limit
    return doc


@bp.get(f"{P}/os-quota-sets/<target>")
def show_quota(project_id, target):
    enforce("volume:read_quota", {"project_id": target})
    usage = request.args.get("usage", "false").lower() in ("true", "1")
    return jsonify(quota_set=_quota_doc(target, usage))


@bp.get(f"{P}/os-quota-sets/<target>/defaults")
def default_quota(project_id, target):
    from services.storage.volumes import DEFAULT_QUOTAS
    enforce("volume:read_quota", {"project_id": target})  # Cinder checks the show policy here too
    return jsonify(quota_set={"id": target, **DEFAULT_QUOTAS})


@bp.put(f"{P}/os-quota-sets/<target>")
def update_quota(project_id, target):
    enforce("volume:update_quota", {"project_id": target})
    vm().set_quotas(target, _body("quota_set"))
    return jsonify(quota_set=_quota_doc(target, False))


@bp.get(f"{P}/limits")
def limits(project_id):
    q, used = vm().quotas(g.context.project_id), vm().usage(g.context.project_id)
    return jsonify(limits={"rate": [], "absolute": {
        "maxTotalVolumes": q["volumes"], "maxTotalSnapshots": q["snapshots"],
        "maxTotalVolumeGigabytes": q["gigabytes"], "maxTotalBackups": q["backups"],
        "maxTotalBackupGigabytes": q["backup_gigabytes"], "totalVolumesUsed": used["volumes"],
        "totalGigabytesUsed": used["gigabytes"], "totalSnapshotsUsed": used["snapshots"],
        "totalBackupsUsed": 0, "totalBackupGigabytesUsed": 0}})


@bp.get(f"{P}/extensions")
def extensions(project_id):
    return jsonify(extensions=[])


@bp.get(f"{P}/os-availability-zone")
def availability_zones(project_id):
    return jsonify(availabilityZoneInfo=[{"zoneName": "nova", "zoneState": {"available": True}}])
