"""/flavors, their extra specs and access lists."""
from __future__ import annotations

from flask import jsonify

from appliance.errors import BadRequest, NotFound
from appliance.routes import ANY_TOKEN, Route, RouteTable, manager
from services.compute import flavors, render, schemas
from services.compute.microversion import at_least

MANAGE = "compute:flavors:manage"
ADMIN = "admin_required"   # sees private flavors without being granted them


def _is_public_arg(raw: str | None):
    if raw is None:
        return True
    if raw.lower() == "none":
        return None  # all the caller may see: everything for admins, public + granted for others
    if raw.lower() in ("true", "t", "1", "yes", "y", "on"):
        return True
    if raw.lower() in ("false", "f", "0", "no", "n", "off"):
        return False
    raise BadRequest(f"Invalid is_public filter [{raw}]")


def _int_arg(call, name):
    raw = call.query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"Invalid {name} filter [{raw}]") from None


def _listing(call, detail: bool):
    is_public = _is_public_arg(call.query.get("is_public"))
    found = manager().list_flavors(call.context, call.check(ADMIN), is_public, _int_arg(call, "minRam"),
                                   _int_arg(call, "minDisk"))
    found = flavors.page(found, call.query.get("marker"), _int_arg(call, "limit"))
    return jsonify(flavors=[render.flavor(f, detail) for f in found])


def index(call):
    return _listing(call, False)


def detail(call):
    return _listing(call, True)


def _visible(call):
    """The flavor, if the caller may see it (a private flavor not shared with the project is not found)."""
    return manager().get_flavor(call.args["flavor_id"], call.context, call.check(ADMIN))


def _flavor(call):
    return manager().get_flavor(call.args["flavor_id"])


def show(call):
    return _visible(call)


def create(call):
    body = call.body["flavor"]
    for key in ("ram", "vcpus", "disk"):
        body[key] = int(body[key])
    if isinstance(body.get("os-flavor-access:is_public"), str):
        body["os-flavor-access:is_public"] = schemas.to_bool(body["os-flavor-access:is_public"])
    if "description" in body and not at_least(55):
        raise BadRequest("Invalid input for field 'flavor': Additional properties are not allowed "
                         "('description' was unexpected).")
    return manager().create_flavor(body)


def update(call):
    if not at_least(55):
        raise NotFound("The resource could not be found.")
    description = call.body["flavor"]["description"]
    return flavors.set_description(_flavor(call), description)


def delete(call):
    flavors.delete(_flavor(call))
    return "", 202


def specs(call):
    return jsonify(extra_specs=dict(_visible(call).extra_specs or {}))


def set_specs(call):
    wanted = call.body["extra_specs"]
    merged = flavors.merge_extra_specs(_flavor(call), wanted)
    return jsonify(extra_specs=merged)


def show_spec(call):
    key = call.args["key"]
    return jsonify({key: flavors.extra_spec(_visible(call), key)})


def put_spec(call):
    key, body = call.args["key"], call.body
    if key not in body:
        raise BadRequest("Request body and URI mismatch")
    return jsonify({key: flavors.set_extra_spec(_flavor(call), key, body[key])})


def delete_spec(call):
    flavors.unset_extra_spec(_flavor(call), call.args["key"])
    return "", 200


def access(call):
    f = _flavor(call)
    return jsonify(flavor_access=render.flavor_access(f.id, flavors.access_list(f)))


def access_action(call):
    body, f = call.body, _flavor(call)
    if "addTenantAccess" in body:
        projects = flavors.add_access(f, body["addTenantAccess"]["tenant"])
    else:
        projects = flavors.remove_access(f, body["removeTenantAccess"]["tenant"])
    return jsonify(flavor_access=render.flavor_access(f.id, projects))


def _one(f) -> dict:
    return {"flavor": render.flavor(f)}


FLAVOR = "/v2.1/flavors/<flavor_id>"
# every token reads the flavors it may see (public ones, and private ones shared with its project); only
# admins manage them
TABLE = RouteTable("compute_flavors", [
    Route("GET", "/v2.1/flavors", ANY_TOKEN, index, checks=(ADMIN,)),
    Route("GET", "/v2.1/flavors/detail", ANY_TOKEN, detail, checks=(ADMIN,)),
    Route("GET", FLAVOR, ANY_TOKEN, show, render=_one, checks=(ADMIN,)),
    Route("POST", "/v2.1/flavors", MANAGE, create, schema=schemas.CREATE_FLAVOR, render=_one),
    Route("PUT", FLAVOR, MANAGE, update, schema=schemas.UPDATE_FLAVOR, render=_one),
    Route("DELETE", FLAVOR, MANAGE, delete),
    Route("GET", f"{FLAVOR}/os-extra_specs", ANY_TOKEN, specs, checks=(ADMIN,)),
    Route("POST", f"{FLAVOR}/os-extra_specs", MANAGE, set_specs, schema=schemas.EXTRA_SPECS),
    Route("GET", f"{FLAVOR}/os-extra_specs/<key>", ANY_TOKEN, show_spec, checks=(ADMIN,)),
    Route("PUT", f"{FLAVOR}/os-extra_specs/<key>", MANAGE, put_spec, schema=schemas.EXTRA_SPEC),
    Route("DELETE", f"{FLAVOR}/os-extra_specs/<key>", MANAGE, delete_spec),
    Route("GET", f"{FLAVOR}/os-flavor-access", MANAGE, access),
    Route("POST", f"{FLAVOR}/action", MANAGE, access_action, schema=schemas.FLAVOR_ACTION),
])
