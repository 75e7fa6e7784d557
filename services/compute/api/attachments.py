"""/servers/{id}/os-volume_attachments and /servers/{id}/os-interface."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from appliance.app import json_body
from appliance.errors import BadRequest, Conflict, NotFound
from services.compute import render, schemas
from services.compute.api.servers import admin, load
from services.compute.external import ExternalError
from services.compute.models import VolumeAttachment

bp = Blueprint("compute_attachments", __name__, url_prefix="/v2.1")

ATTACHABLE = ("active", "stopped", "paused", "suspended", "resized")


def mgr():
    return current_app.extensions["compute.manager"]


def _external(exc: ExternalError):
    if exc.status == 404:
        return NotFound(str(exc))
    if exc.status in (400, 409):
        return BadRequest(str(exc))
    return Conflict(str(exc)) if exc.status == 409 else BadRequest(str(exc))


@bp.get("/servers/<server_id>/os-volume_attachments")
def list_volumes(server_id):
    inst = load(server_id)
    rows = VolumeAttachment.select().where(VolumeAttachment.instance == inst.id)
    return jsonify(volumeAttachments=[render.volume_attachment(a) for a in rows if a.attachment_id or a.boot_index == 0])


def _find(inst, volume_id):
    att = VolumeAttachment.get_or_none((VolumeAttachment.instance == inst.id) &
                                       (VolumeAttachment.volume_id == volume_id))
    if att is None:
        raise NotFound(f"Volume {volume_id} is not attached to the server {inst.id}.")
    return att


@bp.get("/servers/<server_id>/os-volume_attachments/<volume_id>")
def show_volume(server_id, volume_id):
    inst = load(server_id)
    return jsonify(volumeAttachment=render.volume_attachment(_find(inst, volume_id)))


@bp.post("/servers/<server_id>/os-volume_attachments")
def attach_volume(server_id):
    body = json_body(schemas.ATTACH_VOLUME)["volumeAttachment"]
    inst = load(server_id, "compute:servers:write")
    mgr().check_lock(inst, admin())
    if inst.vm_state not in ATTACHABLE or inst.task_state:
        raise Conflict(f"Cannot 'attach_volume' instance {inst.id} while it is in vm_state {inst.vm_state}")
    if VolumeAttachment.get_or_none((VolumeAttachment.instance == inst.id) &
                                    (VolumeAttachment.volume_id == body["volumeId"])):
        raise BadRequest(f"Invalid volume: volume {body['volumeId']} is already attached to this server.")
    try:
        mgr().volume.get_volume(inst.project_id, body["volumeId"], g.context.token)
    except ExternalError as exc:
        if exc.status == 404:
            raise NotFound(f"Volume {body['volumeId']} could not be found.") from None
        raise _external(exc) from None
    try:
        att = mgr().attach_volume(inst, body["volumeId"], g.context.token,
                                  body.get("delete_on_termination", False), body.get("tag"))
    except ExternalError as exc:
        raise _external(exc) from None
    return jsonify(volumeAttachment=render.volume_attachment(att)), 200


@bp.delete("/servers/<server_id>/os-volume_attachments/<volume_id>")
def detach_volume(server_id, volume_id):
    inst = load(server_id, "compute:servers:write")
    mgr().check_lock(inst, admin())
    att = _find(inst, volume_id)
    if att.boot_index == 0:
        raise BadRequest("Cannot detach a root device volume.")
    mgr().detach_volume(inst, att, g.context.token)
    return "", 202


def _iface(record) -> dict:
    return {"port_state": "ACTIVE", "fixed_ips": [{"ip_address": ip, "subnet_id": None}
                                                  for ip in record.get("ips", [])],
            "port_id": record["port_id"], "net_id": record["network_id"], "mac_addr": record.get("mac")}


@bp.get("/servers/<server_id>/os-interface")
def list_interfaces(server_id):
    inst = load(server_id)
    return jsonify(interfaceAttachments=[_iface(p) for p in inst.ports or []])


@bp.get("/servers/<server_id>/os-interface/<port_id>")
def show_interface(server_id, port_id):
    inst = load(server_id)
    for p in inst.ports or []:
        if p["port_id"] == port_id:
            return jsonify(interfaceAttachment=_iface(p))
    raise NotFound(f"Port {port_id} is not attached")


@bp.post("/servers/<server_id>/os-interface")
def attach_interface(server_id):
    body = json_body(schemas.ATTACH_INTERFACE)["interfaceAttachment"]
    inst = load(server_id, "compute:servers:write")
    mgr().check_lock(inst, admin())
    if inst.vm_state not in ("active", "stopped", "paused") or inst.task_state:
        raise Conflict(f"Cannot 'attach_interface' instance {inst.id} while it is in vm_state {inst.vm_state}")
    if body.get("net_id") and body.get("port_id"):
        raise BadRequest("Must not input both network_id and port_id")
    if not body.get("net_id") and not body.get("port_id"):
        raise BadRequest("Must input network_id or port_id")
    try:
        record = mgr().attach_interface(inst, body.get("net_id"), body.get("port_id"), g.context.token)
    except ExternalError as exc:
        raise _external(exc) from None
    return jsonify(interfaceAttachment=_iface(record)), 200


@bp.delete("/servers/<server_id>/os-interface/<port_id>")
def detach_interface(server_id, port_id):
    inst = load(server_id, "compute:servers:write")
    mgr().check_lock(inst, admin())
    mgr().detach_interface(inst, port_id, g.context.token)
    return "", 202
