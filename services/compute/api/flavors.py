"""/flavors (+ extra specs and access) and /os-keypairs."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from appliance.app import json_body
from appliance.errors import BadRequest, Conflict, NotFound
from appliance.policy import check, enforce
from services.compute import render, schemas
from services.compute.microversion import at_least
from services.compute.models import FlavorAccess, KeyPair

bp = Blueprint("compute_flavors", __name__, url_prefix="/v2.1")


def mgr():
    return current_app.extensions["compute.manager"]


def _is_public_arg(admin: bool):
    raw = request.args.get("is_public")
    if raw is None:
        return True
    if raw.lower() == "none":
        return None  # all the caller may see: everything for admins, public + granted for others
    if raw.lower() in ("true", "t", "1", "yes", "y", "on"):
        return True
    if raw.lower() in ("false", "f", "0", "no", "n", "off"):
        return False
    raise BadRequest(f"Invalid is_public filter [{raw}]")


def _int_arg(name):
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"Invalid {name} filter [{raw}]") from None


def _listing(detail: bool):
    admin = check("admin_required")
    is_public = _is_public_arg(admin)
    if is_public is None and not admin:
        is_public = None
    flavors = mgr().list_flavors(g.context, admin, is_public, _int_arg("minRam"), _int_arg("minDisk"))
    if request.args.get("marker"):
        ids = [f.id for f in flavors]
        if request.args["marker"] not in ids:
            raise BadRequest(f"marker [{request.args['marker']}] not found")
        flavors = flavors[ids.index(request.args["marker"]) + 1:]
    limit = _int_arg("limit")
    if limit is not None:
        flavors = flavors[:limit]
    return jsonify(flavors=[render.flavor(f, detail) for f in flavors])


@bp.get("/flavors")
def index():
    return _listing(False)


@bp.get("/flavors/detail")
def detail():
    return _listing(True)


@bp.get("/flavors/<flavor_id>")
def show(flavor_id):
    return jsonify(flavor=render.flavor(mgr().get_flavor(flavor_id, g.context, check("admin_required"))))


@bp.post("/flavors")
def create():
    enforce("compute:flavors:manage")
    body = json_body(schemas.CREATE_FLAVOR)["flavor"]
    for key in ("ram", "vcpus", "disk"):
        body[key] = int(body[key])
    if isinstance(body.get("os-flavor-access:is_public"), str):
        body["os-flavor-access:is_public"] = schemas.to_bool(body["os-flavor-access:is_public"])
    if "description" in body and not at_least(55):
        raise BadRequest("Invalid input for field 'flavor': Additional properties are not allowed "
                         "('description' was unexpected).")
    return jsonify(flavor=render.flavor(mgr().create_flavor(body))), 200


@bp.put("/flavors/<flavor_id>")
def update(flavor_id):
    enforce("compute:flavors:manage")
    if not at_least(55):
        raise NotFound("The resource could not be found.")
    body = json_body({"type": "object", "required": ["flavor"], "properties": {"flavor": {
        "type": "object", "required": ["description"],
        "properties": {"description": {"type": ["string", "null"]}}, "additionalProperties": False}}})
    f = mgr().get_flavor(flavor_id)
    f.description = body["flavor"]["description"]
    f.save()
    return jsonify(flavor=render.flavor(f))


@bp.delete("/flavors/<flavor_id>")
def delete(flavor_id):
    enforce("compute:flavors:manage")
    mgr().get_flavor(flavor_id).delete_instance(recursive=True)
    return "", 202


@bp.get("/flavors/<flavor_id>/os-extra_specs")
def specs(flavor_id):
    f = mgr().get_flavor(flavor_id, g.context, check("admin_required"))
    return jsonify(extra_specs=dict(f.extra_specs or {}))


@bp.post("/flavors/<flavor_id>/os-extra_specs")
def set_specs(flavor_id):
    enforce("compute:flavors:manage")
    body = json_body(schemas.EXTRA_SPECS)["extra_specs"]
    f = mgr().get_flavor(flavor_id)
    merged = {**(f.extra_specs or {}), **{k: str(v) for k, v in body.items()}}
    from services.compute.drivers.base import UnsupportedSpec
    from services.compute.drivers.libvirt.xml import plan
    from services.compute.drivers.base import HostCaps
    try:
        # syntax only: a host-independent check with a host that could give everything
        plan(merged, f.vcpus, f.ram, HostCaps(cpus=4096, dedicated_cpus=list(range(4096)), numa_nodes=64,
                                              hugepages={2048: 1 << 30, 1048576: 1 << 20}))
    except UnsupportedSpec as exc:
        if "exceeds" not in str(exc) and "needs" not in str(exc) and "asks for" not in str(exc):
            raise BadRequest(str(exc)) from None
    f.extra_specs = merged
    f.save()
    return jsonify(extra_specs=merged)


@bp.get("/flavors/<flavor_id>/os-extra_specs/<key>")
def show_spec(flavor_id, key):
    f = mgr().get_flavor(flavor_id, g.context, check("admin_required"))
    if key not in (f.extra_specs or {}):
        raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
    return jsonify({key: f.extra_specs[key]})


@bp.put("/flavors/<flavor_id>/os-extra_specs/<key>")
def put_spec(flavor_id, key):
    enforce("compute:flavors:manage")
    body = json_body({"type": "object", "minProperties": 1, "maxProperties": 1})
    if key not in body:
        raise BadRequest("Request body and URI mismatch")
    f = mgr().get_flavor(flavor_id)
    f.extra_specs = {**(f.extra_specs or {}), key: str(body[key])}
    f.save()
    return jsonify({key: str(body[key])})


@bp.delete("/flavors/<flavor_id>/os-extra_specs/<key>")
def delete_spec(flavor_id, key):
    enforce("compute:flavors:manage")
    f = mgr().get_flavor(flavor_id)
    if key not in (f.extra_specs or {}):
        raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
    f.extra_specs = {k: v for k, v in f.extra_specs.items() if k != key}
    f.save()
    return "", 200


@bp.get("/flavors/<flavor_id>/os-flavor-access")
def access(flavor_id):
    enforce("compute:flavors:manage")
    f = mgr().get_flavor(flavor_id)
    if f.is_public:
        raise NotFound("Access list not available for public flavors.")
    return jsonify(flavor_access=[{"flavor_id": f.id, "tenant_id": a.project_id} for a in f.access])


@bp.post("/flavors/<flavor_id>/action")
def access_action(flavor_id):
    enforce("compute:flavors:manage")
    body = json_body({"type": "object", "minProperties": 1, "maxProperties": 1, "properties": {
        "addTenantAccess": {"type": "object", "required": ["tenant"]},
        "removeTenantAccess": {"type": "object", "required": ["tenant"]}}, "additionalProperties": False})
    f = mgr().get_flavor(flavor_id)
    if f.is_public:
        raise Conflict("Can not add access to a public flavor.")
    if "addTenantAccess" in body:
        tenant = body["addTenantAccess"]["tenant"]
        if FlavorAccess.get_or_none((FlavorAccess.flavor == f) & (FlavorAccess.project_id == tenant)):
            raise Conflict(f"Flavor access already exists for flavor {f.id} and project {tenant} combination.")
        FlavorAccess.create(flavor=f, project_id=tenant)
    else:
        tenant = body["removeTenantAccess"]["tenant"]
        row = FlavorAccess.get_or_none((FlavorAccess.flavor == f) & (FlavorAccess.project_id == tenant))
        if row is None:
            raise NotFound(f"Flavor access not found for {f.id} / {tenant} combination.")
        row.delete_instance()
    return jsonify(flavor_access=[{"flavor_id": f.id, "tenant_id": a.project_id} for a in f.access])


# -- keypairs ---------------------------------------------------------------------------------------------
def _key_user() -> str:
    user = request.args.get("user_id")
    if user and user != g.context.user_id:
        enforce("admin_required")
        return user
    return g.context.user_id


@bp.get("/os-keypairs")
def keypairs():
    user = _key_user()
    rows = KeyPair.select().where(KeyPair.user_id == user).order_by(KeyPair.name)
    return jsonify(keypairs=[{"keypair": render.keypair(k, detail=False)} for k in rows])


@bp.post("/os-keypairs")
def create_keypair():
    body = json_body(schemas.CREATE_KEYPAIR)["keypair"]
    user = g.context.user_id
    if body.get("user_id") and body["user_id"] != user:
        enforce("admin_required")
        user = body["user_id"]
    if at_least(92) and "public_key" not in body:
        raise BadRequest("Invalid input for field 'keypair/public_key': 'public_key' is a required property.")
    kp, private = mgr().create_keypair(user, body["name"], body.get("public_key"), body.get("type", "ssh"))
    body = render.keypair(kp, with_private=private, detail=False)
    body["user_id"] = kp.user_id
    return jsonify(keypair=body), 201 if at_least(2) else 200


@bp.get("/os-keypairs/<name>")
def show_keypair(name):
    return jsonify(keypair=render.keypair(mgr().get_keypair(_key_user(), name)))


@bp.delete("/os-keypairs/<name>")
def delete_keypair(name):
    mgr().get_keypair(_key_user(), name).delete_instance()
    return "", 202 if not at_least(2) else 204


