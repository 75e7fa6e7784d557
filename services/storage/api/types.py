"""Cinder v3 API: volume types and extra specs, quotas, limits, extensions, availability zones."""
from __future__ import annotations

from flask import jsonify, request

from appliance.routes import ANY_TOKEN, Route, RouteTable
from services.storage import render, schemas
from services.storage.api.targets import nothing, storage
from services.storage.volumes import DEFAULT_QUOTAS

P = "/v3/<project_id>"
MANAGE = "volume:manage_types"


def types():
    return storage().types


def _see_private(call) -> bool:
    # private types are the operators' (those who manage types), as Cinder's is_public filter
    return call.check(MANAGE, {})


# --- types --------------------------------------------------------------------------------------------------------
def list_types(call):
    return jsonify(volume_types=[render.volume_type(t) for t in types().list(_see_private(call))])


def default_type(call):
    return types().ensure_default()


def show_type(call):
    return types().get(call.args["type_id"], _see_private(call))


def create_type(call):
    return types().create(call.body["volume_type"])


def update_type(call):
    vt = types().get(call.args["type_id"])
    return types().update(vt, call.body["volume_type"])


def delete_type(call):
    types().delete(types().get(call.args["type_id"]))


def get_specs(call):
    return jsonify(extra_specs=types().get(call.args["type_id"]).extra_specs)


def set_specs(call):
    vt = types().get(call.args["type_id"])
    return jsonify(extra_specs=types().set_specs(vt, call.body["extra_specs"]))


def delete_spec(call):
    types().delete_spec(types().get(call.args["type_id"]), call.args["key"])
    return "", 202


def _type_doc(t):
    return {"volume_type": render.volume_type(t)}


# --- quotas, limits, misc -------------------------------------------------------------------------------------------
def quota_target(call) -> dict:
    return {"project_id": call.args["target"]}


def _quota_doc(target, usage):
    vm = storage().volumes
    limits = vm.quotas(target)
    doc = {"id": target}
    used = vm.usage(target) if usage else {}
    for key, limit in limits.items():
        doc[key] = {"limit": limit, "in_use": used.get(key, 0), "reserved": 0, "allocated": 0} if usage else limit
    return doc


def show_quota(call):
    usage = request.args.get("usage", "false").lower() in ("true", "1")
    return jsonify(quota_set=_quota_doc(call.args["target"], usage))


def default_quota(call):
    return jsonify(quota_set={"id": call.args["target"], **DEFAULT_QUOTAS})


def update_quota(call):
    storage().volumes.set_quotas(call.args["target"], call.body["quota_set"])
    return jsonify(quota_set=_quota_doc(call.args["target"], False))


def limits(call):
    vm = storage().volumes
    q, used = vm.quotas(call.project_id), vm.usage(call.project_id)
    return jsonify(limits={"rate": [], "absolute": {
        "maxTotalVolumes": q["volumes"], "maxTotalSnapshots": q["snapshots"],
        "maxTotalVolumeGigabytes": q["gigabytes"], "maxTotalBackups": q["backups"],
        "maxTotalBackupGigabytes": q["backup_gigabytes"], "totalVolumesUsed": used["volumes"],
        "totalGigabytesUsed": used["gigabytes"], "totalSnapshotsUsed": used["snapshots"],
        "totalBackupsUsed": 0, "totalBackupGigabytesUsed": 0}})


def extensions(call):
    return jsonify(extensions=[])


def availability_zones(call):
    return jsonify(availabilityZoneInfo=[{"zoneName": "nova", "zoneState": {"available": True}}])


# managing types is decided before the type is looked up (a member learns nothing of which ids exist)
_ADMIN = {"target": nothing}
T = f"{P}/types/<type_id>"
ROUTES = RouteTable("volume_types", [
    Route("GET", f"{P}/types", ANY_TOKEN, list_types, checks=(MANAGE,)),
    Route("GET", f"{P}/types/default", ANY_TOKEN, default_type, render=_type_doc),
    Route("GET", T, ANY_TOKEN, show_type, checks=(MANAGE,), render=_type_doc),
    Route("POST", f"{P}/types", MANAGE, create_type, schema=schemas.wrapped("volume_type"), render=_type_doc,
          **_ADMIN),
    Route("PUT", T, MANAGE, update_type, schema=schemas.wrapped("volume_type"), render=_type_doc, **_ADMIN),
    Route("DELETE", T, MANAGE, delete_type, render=_type_doc, status=202, **_ADMIN),
    Route("GET", f"{T}/extra_specs", ANY_TOKEN, get_specs),
    Route("POST", f"{T}/extra_specs", MANAGE, set_specs, schema=schemas.wrapped("extra_specs"), **_ADMIN),
    Route("DELETE", f"{T}/extra_specs/<key>", MANAGE, delete_spec, **_ADMIN),
    Route("GET", f"{P}/os-quota-sets/<target>", "volume:read_quota", show_quota, target=quota_target),
    # Cinder checks the show policy for the defaults too
    Route("GET", f"{P}/os-quota-sets/<target>/defaults", "volume:read_quota", default_quota, target=quota_target),
    Route("PUT", f"{P}/os-quota-sets/<target>", "volume:update_quota", update_quota,
          schema=schemas.wrapped("quota_set"), target=quota_target),
    Route("GET", f"{P}/limits", ANY_TOKEN, limits),
    Route("GET", f"{P}/extensions", ANY_TOKEN, extensions),
    Route("GET", f"{P}/os-availability-zone", ANY_TOKEN, availability_zones),
])
