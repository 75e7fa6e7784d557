"""Cinder v3 API: discovery, microversions, volumes and their actions, snapshots."""
from __future__ import annotations

from flask import g, jsonify, request

from appliance import errors
from appliance.routes import ANY_TOKEN, PUBLIC, Route, RouteTable
from services.storage import render, schemas
from services.storage.api.targets import body_first, own_project, own_project_body_first, require, storage
from services.storage.models import Snapshot

MIN_VERSION, MAX_VERSION = (3, 0), (3, 70)
P = "/v3/<project_id>"


def _version_doc():
    host = request.host_url.rstrip("/")
    return {"id": "v3.0", "status": "CURRENT", "version": "%d.%d" % MAX_VERSION,
            "min_version": "%d.%d" % MIN_VERSION, "updated": "2023-03-01T00:00:00Z",
            "links": [{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
                      {"rel": "self", "href": f"{host}/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}


def root(call):
    resp = jsonify(versions=[_version_doc()])
    resp.status_code = 300
    return resp


def v3(call):
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


def vm():
    return storage().volumes


# --- what a path names ------------------------------------------------------------------------------------------
def volume(call):
    return vm().get(call.args["volume_id"], call.context)


def snapshot(call):
    return vm().get_snapshot(call.args["snapshot_id"], call.context)


def snapshot_source(call) -> dict:
    """A snapshot create's target is the project of the volume its body names."""
    call.resource = vm().snapshot_source(call.body["snapshot"], call.context)
    return {"project_id": call.resource.project_id}


def _all_tenants(call) -> bool:
    return vm().wants_all_tenants(call.query) and call.check("volume:all_tenants", own_project(call))


# --- volumes ----------------------------------------------------------------------------------------------------
def _list(call, detail):
    rows, more = vm().list(call.context, call.query, _all_tenants(call))
    doc = {"volumes": [render.volume(v, detail) for v in rows]}
    if more and rows:
        doc["volumes_links"] = [{"rel": "next", "href": f"{request.base_url}?marker={rows[-1].id}"
                                                        f"&limit={request.args.get('limit')}"}]
    if request.args.get("with_count"):
        doc["count"] = len(rows)
    return jsonify(doc)


def list_volumes(call):
    return _list(call, False)


def list_volumes_detail(call):
    return _list(call, True)


def create_volume(call):
    return vm().create(call.body["volume"], call.context, call.check)


def show_volume(call):
    return call.resource


def update_volume(call):
    return vm().update(call.resource, call.body["volume"])


def delete_volume(call):
    cascade = request.args.get("cascade", "false").lower() in ("true", "1")
    vm().delete(call.resource, cascade=cascade)


def get_metadata(call):
    return jsonify(metadata=call.resource.metadata)


def add_metadata(call):
    return jsonify(metadata=vm().set_metadata(call.resource, call.body["metadata"], replace=False))


def replace_metadata(call):
    return jsonify(metadata=vm().set_metadata(call.resource, call.body["metadata"], replace=True))


def delete_metadata(call):
    vm().delete_metadata(call.resource, call.args["key"])
    return "", 200


# --- actions: each decides its own rule on the volume (one URL, many verbs) -------------------------------------------
LEGACY = {"os-reserve", "os-unreserve", "os-attach", "os-detach", "os-begin_detaching", "os-roll_detaching",
          "os-initialize_connection", "os-terminate_connection"}
ACTION_RULES = ("volume:attach", "volume:write", "volume:read", "volume:reset_status")


def _volume_for(call, rule, service=False):
    vol = vm().get(call.args["volume_id"], call.context, service)
    require(call, rule, {"project_id": vol.project_id})
    return vol


def volume_action(call):
    action, args = next(iter(call.body.items()))
    if action in LEGACY:
        vol = _volume_for(call, "volume:attach", service=True)
        result = storage().attachments.legacy(vol, action, args, call.context)
        return (jsonify(result), 200) if result is not None else ("", 202)
    args = args if isinstance(args, dict) else {}
    if action == "os-extend":
        if "new_size" not in args:
            raise errors.BadRequest("Invalid input for field 'os-extend/new_size': it is required.")
        vm().extend(_volume_for(call, "volume:write"), args["new_size"])
    elif action == "os-set_bootable":
        vm().set_bootable(_volume_for(call, "volume:write"), args.get("bootable"))
        return "", 200
    elif action in ("os-reset_status", "os-force_delete"):
        vol = _volume_for(call, "volume:read")
        require(call, "volume:reset_status", {"project_id": vol.project_id})
        if action == "os-reset_status":
            vm().reset_status(vol, args)
        else:
            vm().delete(_volume_for(call, "volume:write"), cascade=True, force=True)
    elif action == "os-update_readonly_flag":
        _volume_for(call, "volume:write")
    else:
        raise errors.BadRequest(f"Invalid input: there is no volume action {action!r}.")
    return "", 202


# --- snapshots --------------------------------------------------------------------------------------------------
def list_snapshots(call):
    rows, _ = vm().list(call.context, call.query, _all_tenants(call), model=Snapshot)
    return jsonify(snapshots=[render.snapshot(s) for s in rows])


def create_snapshot(call):
    return vm().create_snapshot(call.resource, call.body["snapshot"], call.context)


def show_snapshot(call):
    return call.resource


def update_snapshot(call):
    return vm().update_snapshot(call.resource, call.body["snapshot"])


def delete_snapshot(call):
    vm().delete_snapshot(call.resource)


def _volume_doc(v):
    return {"volume": render.volume(v)}


def _snapshot_doc(s):
    return {"snapshot": render.snapshot(s)}


_ONE_ACTION = {"type": "object", "minProperties": 1, "maxProperties": 1}
_LIST = {"checks": ("volume:all_tenants",), "target": own_project}
HOST_ATTR = render.HOST_ATTR_RULE

ROUTES = RouteTable("volumes", [
    Route("GET", "/", PUBLIC, root),
    Route("GET", "/v3/", PUBLIC, v3),
    Route("GET", "/v3", PUBLIC, v3),
    Route("GET", f"{P}/volumes", "volume:read", list_volumes, **_LIST),
    # render.volume decides who sees os-vol-host-attr:host (HOST_ATTR)
    Route("GET", f"{P}/volumes/detail", "volume:read", list_volumes_detail, target=own_project,
          checks=("volume:all_tenants", HOST_ATTR)),
    Route("POST", f"{P}/volumes", "volume:write", create_volume, schema=schemas.wrapped("volume"),
          target=own_project_body_first, checks=("volume:read", HOST_ATTR), render=_volume_doc, status=202),
    Route("GET", f"{P}/volumes/<volume_id>", "volume:read", show_volume, load=volume, render=_volume_doc,
          checks=(HOST_ATTR,)),
    Route("PUT", f"{P}/volumes/<volume_id>", "volume:write", update_volume, schema=schemas.wrapped("volume"),
          load=body_first(volume), render=_volume_doc, checks=(HOST_ATTR,)),
    Route("DELETE", f"{P}/volumes/<volume_id>", "volume:write", delete_volume, load=volume, render=_volume_doc,
          status=202),
    Route("GET", f"{P}/volumes/<volume_id>/metadata", "volume:read", get_metadata, load=volume),
    Route("POST", f"{P}/volumes/<volume_id>/metadata", "volume:write", add_metadata,
          schema=schemas.wrapped("metadata"), load=body_first(volume)),
    Route("PUT", f"{P}/volumes/<volume_id>/metadata", "volume:write", replace_metadata,
          schema=schemas.wrapped("metadata"), load=body_first(volume)),
    Route("DELETE", f"{P}/volumes/<volume_id>/metadata/<key>", "volume:write", delete_metadata, load=volume),
    # the action in the body picks the rule (attach, write, read + reset_status): decided in the handler
    Route("POST", f"{P}/volumes/<volume_id>/action", ANY_TOKEN, volume_action, schema=_ONE_ACTION,
          checks=ACTION_RULES),
    Route("GET", f"{P}/snapshots", "volume:read", list_snapshots, **_LIST),
    Route("GET", f"{P}/snapshots/detail", "volume:read", list_snapshots, **_LIST),
    Route("POST", f"{P}/snapshots", "volume:write", create_snapshot, schema=schemas.wrapped("snapshot"),
          target=snapshot_source, render=_snapshot_doc, status=202),
    Route("GET", f"{P}/snapshots/<snapshot_id>", "volume:read", show_snapshot, load=snapshot,
          render=_snapshot_doc),
    Route("PUT", f"{P}/snapshots/<snapshot_id>", "volume:write", update_snapshot,
          schema=schemas.wrapped("snapshot"), load=body_first(snapshot), render=_snapshot_doc),
    Route("DELETE", f"{P}/snapshots/<snapshot_id>", "volume:write", delete_snapshot, load=snapshot,
          render=_snapshot_doc, status=202),
])
