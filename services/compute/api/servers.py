"""/servers: create, list, show, update, delete, actions, console output."""
from __future__ import annotations

import secrets

from flask import current_app, jsonify

from appliance.app import settings_of, validate
from appliance.errors import BadRequest, Forbidden
from appliance.routes import Route, RouteTable, manager
from services.compute import render, schemas, servers
from services.compute.microversion import at_least, current
from services.compute.scheduler.zones import FORCED_HOST, check_requested

ADMIN = "admin_required"   # finds every project's servers by id, uses the admin-only list filters, sees hosts
READ, WRITE = "compute:servers:read", "compute:servers:write"
ALL_TENANTS = "compute:servers:all_tenants"

# the filters Nova documents for GET /servers; from 2.75 anything else is a 400
LIST_PARAMS = {"access_ip_v4", "access_ip_v6", "all_tenants", "auto_disk_config", "availability_zone",
               "changes-since", "changes-before", "config_drive", "created_at", "deleted", "description",
               "flavor", "host", "hostname", "image", "image_ref", "ip", "ip6", "kernel_id", "key_name",
               "launch_index", "launched_at", "limit", "locked", "locked_by", "marker", "name", "node",
               "power_state", "progress", "project_id", "ramdisk_id", "reservation_id", "root_device_name",
               "sort_dir", "sort_key", "status", "tags", "tags-any", "task_state", "tenant_id", "terminated_at",
               "user_id", "uuid", "vm_state", "not-tags", "not-tags-any", "pinned_availability_zone"}
# filters Nova silently drops for users who are not admins
ADMIN_FILTERS = ("deleted", "host")

ACTIONS = {"os-start", "os-stop", "reboot", "pause", "unpause", "suspend", "resume", "resize", "confirmResize",
           "revertResize", "createImage", "lock", "unlock", "os-getConsoleOutput", "forceDelete", "evacuate",
           "migrate"}
# moving a server between nodes: admins' by default, under Nova's rule names
EVACUATE, MIGRATE = "os_compute_api:os-evacuate", "os_compute_api:os-migrate-server:migrate"
MOVES = {"evacuate": EVACUATE, "migrate": MIGRATE}


def load_server(call):
    """Route.load for /servers/<server_id>/...: another project's server is not found (unless admin)."""
    return manager().get_instance(call.args["server_id"], call.context, call.check(ADMIN))


def shown(call, inst) -> dict:
    """The full server body (floating IPs, volumes and groups need the manager and the database)."""
    groups = [inst.server_group_id] if inst.server_group_id else []
    return render.server(inst, admin=call.check(ADMIN), floating=manager().floating_ips([inst]),
                         attachments=servers.volume_rows([inst]).get(inst.id, []), groups=groups)


def create(call):
    body = call.body
    req = dict(body["server"])
    req["os:scheduler_hints"] = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    if at_least(37) and "networks" not in req:
        raise BadRequest("Invalid input for field 'server/networks': 'networks' is a required property.")
    if not at_least(37) and isinstance(req.get("networks"), str):
        raise BadRequest(f"Invalid input for field 'server/networks': {req['networks']!r} is not of type 'array'.")
    if "imageRef" not in req and not req.get("block_device_mapping_v2"):
        raise BadRequest("Invalid input for field 'server/imageRef': 'imageRef' is a required property.")
    check_requested(req.get("availability_zone"), call.check(FORCED_HOST))
    inst = manager().create_servers(call.context, call.context.token, req, call.check(ADMIN))[0]
    if schemas.to_bool(req.get("return_reservation_id")):
        return jsonify(reservation_id=inst.reservation_id), 202
    server = {"id": inst.id, "links": render.links("servers", inst.id), "OS-DCF:diskConfig": "MANUAL",
              "security_groups": [{"name": n} for n in inst.security_groups], "adminPass": secrets.token_urlsafe(9)}
    resp = jsonify(server=server)
    resp.headers["Location"] = render.links("servers", inst.id)[0]["href"]
    return resp, 202


def _filters(call) -> tuple[dict, bool]:
    """The listing's filters and whether it may span projects (?all_tenants=, compute:servers:all_tenants)."""
    args = call.query
    if at_least(75):
        unknown = sorted(set(args) - LIST_PARAMS)
        if unknown:
            raise BadRequest(f"Invalid input for query parameters {unknown[0]}. Additional properties are not "
                             f"allowed ('{unknown[0]}' was unexpected)")
    filters = {k: v for k, v in args.items()}
    if "status" in args:
        filters["status"] = args.get("status")
    all_tenants = call.check(ALL_TENANTS)
    if not call.check(ADMIN):
        for name in ADMIN_FILTERS:
            filters.pop(name, None)
    if not all_tenants:
        filters.pop("all_tenants", None)
    elif "all_tenants" in args:
        value = args.get("all_tenants", "")
        filters["all_tenants"] = "true" if value in ("", None) else value
    return filters, all_tenants


def _list(call, detail: bool):
    filters, all_tenants = _filters(call)
    found = manager().list_instances(call.context, all_tenants, filters)
    if not detail:
        return jsonify(servers=[render.server_brief(i) for i in found])
    fips = manager().floating_ips(found) if found else {}
    volumes, admin = servers.volume_rows(found), call.check(ADMIN)
    return jsonify(servers=[render.server(i, admin=admin, floating=fips, attachments=volumes.get(i.id, []),
                                          groups=[i.server_group_id] if i.server_group_id else [])
                            for i in found])


def index(call):
    return _list(call, False)


def detail(call):
    return _list(call, True)


def show(call):
    return jsonify(server=shown(call, call.resource))


def update(call):
    changes = call.body["server"]
    if "description" in changes and not at_least(19):
        raise BadRequest("Invalid input for field 'server': Additional properties are not allowed "
                         "('description' was unexpected).")
    return jsonify(server=shown(call, servers.update(call.resource, changes)))


def delete(call):
    manager().delete_server(call.resource, call.check(ADMIN), call.context)
    return "", 204


def action(call):
    body = call.body
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("There is either no action or more than one action in the request body.")
    name, args = next(iter(body.items()))
    if name not in ACTIONS:
        raise BadRequest(f"There is no such action: {name}")
    if name in MOVES:
        if not call.check(MOVES[name]):
            raise Forbidden(f"Policy doesn't allow {MOVES[name]} to be performed.")
        validate(body, schemas.move_schema(name, current()[1]))
        if name == "evacuate":
            return _evacuate(call, args)
    schema = schemas.ACTIONS.get(name)
    if schema:
        validate(body, schema)
    inst, admin = call.resource, call.check(ADMIN)
    if name == "forceDelete":
        manager().delete_server(inst, admin, call.context)
        return "", 202
    result = manager().action(inst, name, args, call.context.token, admin, ctx=call.context)
    if name == "os-getConsoleOutput":
        return jsonify(result), 200
    if name == "createImage":
        href = f"{settings_of().url('image')}/v2/images/{result['id']}"
        resp = jsonify(image_id=result["id"]) if at_least(45) else current_app.response_class(status=202)
        resp.headers["Location"] = href
        return resp, 202
    return "", 202


def _evacuate(call, args):
    """Nova's evacuate: 200, with the new admin password only before 2.14."""
    shared = schemas.to_bool(args.get("onSharedStorage")) if not at_least(14) else False
    if shared and "adminPass" in args:
        raise BadRequest("admin password can't be changed on existing disk")
    if at_least(29) and not at_least(68) and schemas.to_bool(args.get("force", False)) and not args.get("host"):
        raise BadRequest("Can't force to a non-provided destination")
    password = args.get("adminPass") or secrets.token_urlsafe(9)
    manager().action(call.resource, "evacuate", args, call.context.token, call.check(ADMIN), ctx=call.context)
    if not at_least(14):
        return jsonify(adminPass=password), 200
    return "", 200


SERVER = "/v2.1/servers/<server_id>"
# readers read, members write; another project's server does not exist for it (load raises 404 first)
TABLE = RouteTable("compute_servers", [
    Route("POST", "/v2.1/servers", "compute:servers:create", create, schema=schemas.CREATE_SERVER,
          checks=(ADMIN, FORCED_HOST)),
    Route("GET", "/v2.1/servers", READ, index, checks=(ALL_TENANTS, ADMIN)),
    Route("GET", "/v2.1/servers/detail", READ, detail, checks=(ALL_TENANTS, ADMIN)),
    Route("GET", SERVER, READ, show, load=load_server, checks=(ADMIN,)),
    Route("PUT", SERVER, WRITE, update, load=load_server, schema=schemas.UPDATE_SERVER, checks=(ADMIN,)),
    Route("DELETE", SERVER, WRITE, delete, load=load_server, checks=(ADMIN,)),
    # every action needs member, the console log too (Nova's os-console-output default): it can carry
    # cloud-init's secrets
    Route("POST", f"{SERVER}/action", WRITE, action, load=load_server, checks=(ADMIN, EVACUATE, MIGRATE)),
])
