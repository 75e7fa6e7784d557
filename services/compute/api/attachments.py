"""/servers/{id}/os-volume_attachments and /servers/{id}/os-interface."""
from __future__ import annotations

from flask import jsonify

from appliance.routes import Route, RouteTable, manager
from services.compute import attachments, render, schemas
from services.compute.api.servers import ADMIN, READ, WRITE, load_server


def list_volumes(call):
    return jsonify(volumeAttachments=[render.volume_attachment(a) for a in attachments.volumes(call.resource)])


def show_volume(call):
    att = attachments.find_volume(call.resource, call.args["volume_id"])
    return jsonify(volumeAttachment=render.volume_attachment(att))


def attach_volume(call):
    body = call.body["volumeAttachment"]
    att = attachments.attach_volume(manager(), call.resource, body["volumeId"], call.context.token,
                                    call.check(ADMIN), body.get("delete_on_termination", False), body.get("tag"))
    return jsonify(volumeAttachment=render.volume_attachment(att)), 200


def detach_volume(call):
    attachments.detach_volume(manager(), call.resource, call.args["volume_id"], call.context.token,
                              call.check(ADMIN))
    return "", 202


def list_interfaces(call):
    return jsonify(interfaceAttachments=[render.interface(p) for p in call.resource.ports or []])


def show_interface(call):
    return jsonify(interfaceAttachment=render.interface(attachments.interface(call.resource, call.args["port_id"])))


def attach_interface(call):
    body = call.body["interfaceAttachment"]
    record = attachments.attach_interface(manager(), call.resource, body.get("net_id"), body.get("port_id"),
                                          call.context.token, call.check(ADMIN))
    return jsonify(interfaceAttachment=render.interface(record)), 200


def detach_interface(call):
    attachments.detach_interface(manager(), call.resource, call.args["port_id"], call.context.token,
                                 call.check(ADMIN))
    return "", 202


VOLUMES = "/v2.1/servers/<server_id>/os-volume_attachments"
INTERFACES = "/v2.1/servers/<server_id>/os-interface"
# the server's own rules: reading its attachments is reading it, changing them is writing it (the admin
# check: an admin may change a locked server)
TABLE = RouteTable("compute_attachments", [
    Route("GET", VOLUMES, READ, list_volumes, load=load_server, checks=(ADMIN,)),
    Route("GET", f"{VOLUMES}/<volume_id>", READ, show_volume, load=load_server, checks=(ADMIN,)),
    Route("POST", VOLUMES, WRITE, attach_volume, load=load_server, schema=schemas.ATTACH_VOLUME, checks=(ADMIN,)),
    Route("DELETE", f"{VOLUMES}/<volume_id>", WRITE, detach_volume, load=load_server, checks=(ADMIN,)),
    Route("GET", INTERFACES, READ, list_interfaces, load=load_server, checks=(ADMIN,)),
    Route("GET", f"{INTERFACES}/<port_id>", READ, show_interface, load=load_server, checks=(ADMIN,)),
    Route("POST", INTERFACES, WRITE, attach_interface, load=load_server, schema=schemas.ATTACH_INTERFACE,
          checks=(ADMIN,)),
    Route("DELETE", f"{INTERFACES}/<port_id>", WRITE, detach_interface, load=load_server, checks=(ADMIN,)),
])
