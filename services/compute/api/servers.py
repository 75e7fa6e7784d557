"""/servers: create, list, show, update, delete, actions, console output."""
from __future__ import annotations

import secrets

from flask import Blueprint, current_app, g, jsonify, request

from appliance.app import json_body
from appliance.errors import BadRequest
from appliance.policy import check, enforce
from services.compute import render, schemas
from services.compute.microversion import at_least
from services.compute.models import Instance, VolumeAttachment

bp = Blueprint("compute_servers", __name__, url_prefix="/v2.1")

# the filters Nova documents for GET /servers; from 2.75 anything else is a 400
LIST_PARAMS = {"access_ip_v4", "access_ip_v6", "all_tenants", "auto_disk_config", "availability_zone",
               "changes-since", "changes-before", "config_drive", "created_at", "deleted", "description",
               "flavor", "host", "hostname", "image", "image_ref", "ip", "ip6", "kernel_id", "key_name",
               "launch_index", "launched_at", "limit", "locked", "locked_by", "marker", "name", "node",
               "power_state", "progress", "project_id", "ramdisk_id", "reservation_id", "root_device_name",
               "sort_dir", "sort_key", "status", "tags", "tags-any", "task_state", "tenant_id", "terminated_at",
               "user_id", "uuid", "vm_state", "not-tags", "not-tags-any", "pinned_availability_zone"}


def mgr():
    return current_app.extensions["compute.manager"]


def ctx():
    return g.context


def admin() -> bool:
    return check("admin_required")


def load(server_id: str, rule="compute:servers:read") -> Instance:
    inst = mgr().get_instance(server_id, ctx(), admin())
    enforce(rule, {"project_id": inst.project_id})
    return inst


def _shown(inst) -> dict:
    atts = list(VolumeAttachment.select().where(VolumeAttachment.instance == inst.id))
    groups = [inst.server_group_id] if inst.server_group_id else []
    return render.server(inst, floating=mgr().floating_ips([inst]), attachments=atts, groups=groups)


@bp.post("/servers")
def create():
    body = json_body(schemas.CREATE_SERVER)
    req = dict(body["server"])
    req["os:scheduler_hints"] = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    if at_least(37) and "networks" not in req:
        raise BadRequest("Invalid input for field 'server/networks': 'networks' is a required property.")
    if not at_least(37) and isinstance(req.get("networks"), str):
        raise BadRequest(f"Invalid input for field 'server/networks': {req['networks']!r} is not of type 'array'.")
    if "imageRef" not in req and not req.get("block_device_mapping_v2"):
        raise BadRequest("Invalid input for field 'server/imageRef': 'imageRef' is a required property.")
    enforce("compute:servers:create", {"project_id": ctx().project_id})
    made = mgr().create_servers(ctx(), ctx().token, req, admin())
    inst = made[0]
    if schemas.to_bool(req.get("return_reservation_id")):
        return jsonify(reservation_id=inst.reservation_id), 202
    server = {"id": inst.id, "links": render.links("servers", inst.id), "OS-DCF:diskConfig": "MANUAL",
              "security_groups": [{"name": n} for n in inst.security_groups], "adminPass": secrets.token_urlsafe(9)}
    resp = jsonify(server=server)
    resp.headers["Location"] = render.links("servers", inst.id)[0]["href"]
    return resp, 202


def _list(detail: bool):
    args = request.args
    if at_least(75):
        unknown = sorted(set(args) - LIST_PARAMS)
        if unknown:
            raise BadRequest(f"Invalid input for query parameters {unknown[0]}. Additional properties are not "
                             f"allowed ('{unknown[0]}' was unexpected)")
    filters = {k: v for k, v in args.items()}
    if "status" in args:
        filters["status"] = args.get("status")
    if (args.get("all_tenants") is not None or args.get("deleted") or args.get("host")) and not admin():
        # Nova silently drops admin-only filters for other users
        filters.pop("all_tenants", None)
        filters.pop("deleted", None)
        filters.pop("host", None)
    if "all_tenants" in args and admin():
        value = args.get("all_tenants", "")
        filters["all_tenants"] = "true" if value in ("", None) else value
    enforce("compute:servers:read", {"project_id": ctx().project_id})
    found = mgr().list_instances(ctx(), admin(), filters)
    if not detail:
        return jsonify(servers=[render.server_brief(i) for i in found])
    fips = mgr().floating_ips(found) if found else {}
    ids = [i.id for i in found]
    atts: dict = {}
    if ids:
        for a in VolumeAttachment.select().where(VolumeAttachment.instance.in_(ids)):
            atts.setdefault(a.instance_id, []).append(a)
    out = [render.server(i, floating=fips, attachments=atts.get(i.id, []),
                        groups=[i.server_group_id] if i.server_group_id else []) for i in found]
    return jsonify(servers=out)


@bp.get("/servers")
def index():
    return _list(False)


@bp.get("/servers/detail")
def detail():
    return _list(True)


@bp.get("/servers/<server_id>")
def show(server_id):
    return jsonify(server=_shown(load(server_id)))


@bp.put("/servers/<server_id>")
def update(server_id):
    body = json_body(schemas.UPDATE_SERVER)["server"]
    inst = load(server_id, "compute:servers:write")
    if "description" in body and not at_least(19):
        raise BadRequest("Invalid input for field 'server': Additional properties are not allowed "
                         "('description' was unexpected).")
    for key, attr in (("name", "name"), ("description", "description"), ("accessIPv4", "access_ipv4"),
                      ("accessIPv6", "access_ipv6"), ("hostname", "hostname")):
        if key in body:
            setattr(inst, attr, body[key] if body[key] is not None else (None if key == "description" else ""))
    inst.save()
    return jsonify(server=_shown(inst))


@bp.delete("/servers/<server_id>")
def delete(server_id):
    inst = load(server_id, "compute:servers:write")
    mgr().delete_server(inst, admin())
    return "", 204


ACTIONS = {"os-start", "os-stop", "reboot", "pause", "unpause", "suspend", "resume", "resize", "confirmResize",
           "revertResize", "createImage", "lock", "unlock", "os-getConsoleOutput", "forceDelete"}


@bp.post("/servers/<server_id>/action")
def action(server_id):
    body = json_body()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("There is either no action or more than one action in the request body.")
    name, args = next(iter(body.items()))
    if name not in ACTIONS:
        raise BadRequest(f"There is no such action: {name}")
    schema = schemas.ACTIONS.get(name)
    if schema:
        from appliance.app import validate
        validate(body, schema)
    # the console log too needs member, as Nova's os-console-output default: it can carry cloud-init's secrets
    inst = load(server_id, "compute:servers:write")
    if name == "forceDelete":
        mgr().delete_server(inst, admin())
        return "", 202
    result = mgr().action(inst, name, args, ctx().token, admin())
    if name == "os-getConsoleOutput":
        return jsonify(result), 200
    if name == "createImage":
        href = f"{current_app.extensions['egret.settings'].url('image')}/v2/images/{result['id']}"
        resp = jsonify(image_id=result["id"]) if at_least(45) else current_app.response_class(status=202)
        resp.headers["Location"] = href
        return resp, 202
    return "", 202
