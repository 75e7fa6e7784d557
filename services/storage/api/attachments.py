"""Cinder v3 attachments API (3.27+): reserve, connect (connection_info), complete, detach."""
from __future__ import annotations

from flask import jsonify

from appliance import errors
from appliance.routes import ANY_TOKEN, Route, RouteTable
from services.storage import render
from services.storage.api.targets import storage

P = "/v3/<project_id>/attachments"
_BODY = {"type": "object", "required": ["attachment"], "properties": {"attachment": {"type": "object"}}}
_ONE_ACTION = {"type": "object", "minProperties": 1, "maxProperties": 1}


def am():
    return storage().attachments


# --- what a path or body names: the target is the attached volume's project ------------------------------------------
def _attachment(call, service):
    call.resource, vol = am().get(call.args["attachment_id"], call.context, service)
    return {"project_id": vol.project_id}


def attachment_to_read(call) -> dict:
    # showing is reading: a reader sees its project's attachments, as Cinder's attachment show default
    return _attachment(call, service=False)


def attachment_to_change(call) -> dict:
    # compute changes its servers' attachments with its service token, across projects
    return _attachment(call, service=True)


def attachment_to_change_body_first(call) -> dict:
    call.body
    return attachment_to_change(call)


def attachment_to_complete(call) -> dict:
    if "os-complete" not in call.body:
        raise errors.BadRequest(f"Invalid input: there is no attachment action {next(iter(call.body))!r}.")
    return attachment_to_change(call)


def volume_to_attach(call) -> dict:
    """A create's fields are checked first, then the volume it names is found (compute sees every project's)."""
    call.fields = am().parse(call.body["attachment"])
    call.resource = am().volumes.get(call.fields["volume_id"], call.context, service=True)
    return {"project_id": call.resource.project_id}


# --- handlers ---------------------------------------------------------------------------------------------------
def list_attachments(call):
    return jsonify(attachments=[render.attachment(a, False) for a in am().list(call.context, call.query)])


def list_attachments_detail(call):
    return jsonify(attachments=[render.attachment(a) for a in am().list(call.context, call.query)])


def create_attachment(call):
    return am().create(call.resource, call.fields, call.context)


def show_attachment(call):
    return call.resource


def update_attachment(call):
    return am().update(call.resource, call.body["attachment"])


def attachment_action(call):
    am().complete(call.resource)
    return "", 204


def delete_attachment(call):
    am().delete(call.resource)
    return jsonify(attachments=[])


def _doc(a):
    return {"attachment": render.attachment(a)}


# render.attachment shows an iSCSI export's CHAP password to compute and admins only
SECRET = (render.AUTH_PASSWORD_RULE,)

ROUTES = RouteTable("attachments", [
    # each listing is limited to the caller's project unless an admin or compute names a volume or instance
    Route("GET", P, ANY_TOKEN, list_attachments),
    Route("GET", f"{P}/detail", ANY_TOKEN, list_attachments_detail, checks=SECRET),
    Route("POST", P, "volume:attach", create_attachment, schema=_BODY, target=volume_to_attach, render=_doc,
          checks=SECRET),
    Route("GET", f"{P}/<attachment_id>", "volume:read", show_attachment, target=attachment_to_read, render=_doc,
          checks=SECRET),
    Route("PUT", f"{P}/<attachment_id>", "volume:attach", update_attachment, schema=_BODY,
          target=attachment_to_change_body_first, render=_doc, checks=SECRET),
    Route("POST", f"{P}/<attachment_id>/action", "volume:attach", attachment_action, schema=_ONE_ACTION,
          target=attachment_to_complete),
    Route("DELETE", f"{P}/<attachment_id>", "volume:attach", delete_attachment, target=attachment_to_change),
])
