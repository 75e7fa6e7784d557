"""Cinder v3 attachments API (3.27+): reserve, connect (connection_info), complete, detach."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from appliance import errors
from appliance.app import json_body

bp = Blueprint("attachments", __name__)
P = "/v3/<project_id>/attachments"


def am():
    return current_app.extensions["egret.storage"].attachments


def _ts(value):
    return value.strftime("%Y-%m-%dT%H:%M:%S.000000") if value else None


def render(a, detail=True):
    doc = {"id": a.id, "status": a.status, "instance": a.instance_uuid, "volume_id": a.volume_id}
    if detail:
        doc.update({"attached_at": _ts(a.attached_at), "detached_at": None, "attach_mode": a.attach_mode,
                    "connection_info": am().connection_info(a), "connector": a.connector})
    return doc


def _body():
    body = json_body({"type": "object", "required": ["attachment"],
                      "properties": {"attachment": {"type": "object"}}})
    return body["attachment"]


@bp.get(P)
def list_attachments(project_id):
    return jsonify(attachments=[render(a, False) for a in am().list(g.context, request.args)])


@bp.get(f"{P}/detail")
def list_attachments_detail(project_id):
    return jsonify(attachments=[render(a) for a in am().list(g.context, request.args)])


@bp.post(P)
def create_attachment(project_id):
    att = am().create(_body(), g.context)
    return jsonify(attachment=render(att))


@bp.get(f"{P}/<attachment_id>")
def show_attachment(project_id, attachment_id):
    # showing is reading: a reader sees its project's attachments, as Cinder's attachment show default
    return jsonify(attachment=render(am().get(attachment_id, g.context, "volume:read")))


@bp.put(f"{P}/<attachment_id>")
def update_attachment(project_id, attachment_id):
    return jsonify(attachment=render(am().update(attachment_id, _body(), g.context)))


@bp.post(f"{P}/<attachment_id>/action")
def attachment_action(project_id, attachment_id):
    body = json_body({"type": "object", "minProperties": 1, "maxProperties": 1})
    if "os-complete" not in body:
        raise errors.BadRequest(f"Invalid input: there is no attachment action {next(iter(body))!r}.")
    am().complete(attachment_id, g.context)
    return "", 204


@bp.delete(f"{P}/<attachment_id>")
def delete_attachment(project_id, attachment_id):
    am().delete(attachment_id, g.context)
    return jsonify(attachments=[])
