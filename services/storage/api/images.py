"""Glance v2 API: version discovery, images, image data, tags, members, (de)activation."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, jsonify, request, stream_with_context

from appliance import errors
from appliance.app import json_body, max_body, public, settings_of
from services.storage import store

bp = Blueprint("images", __name__)
PATCH_TYPES = ("application/openstack-images-v2.1-json-patch", "application/openstack-images-v2.0-json-patch")


def manager():
    return current_app.extensions["egret.storage"].images


def _ts(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def render(img) -> dict:
    doc = {"id": img.id, "name": img.name, "status": img.status, "visibility": img.visibility,
           "protected": img.protected, "os_hidden": img.os_hidden, "checksum": img.checksum,
           "os_hash_algo": img.os_hash_algo, "os_hash_value": img.os_hash_value, "owner": img.owner,
           "size": img.size, "virtual_size": img.virtual_size, "min_ram": img.min_ram, "min_disk": img.min_disk,
           "disk_format": img.disk_format, "container_format": img.container_format,
           "created_at": _ts(img.created_at), "updated_at": _ts(img.updated_at), "tags": list(img.tags),
           "self": f"/v2/images/{img.id}", "file": f"/v2/images/{img.id}/file", "schema": "/v2/schemas/image"}
    for key, value in img.properties.items():
        doc.setdefault(key, value)
    return doc


def render_member(m) -> dict:
    return {"image_id": m.image_id, "member_id": m.member_id, "status": m.status,
            "created_at": _ts(m.created_at), "updated_at": _ts(m.updated_at), "schema": "/v2/schemas/member"}


def _versions():
    base = settings_of().url("image")
    host = request.host_url.rstrip("/") if request.host else base
    entries = []
    for vid, status in (("v2.9", "CURRENT"), ("v2.8", "SUPPORTED"), ("v2.7", "SUPPORTED"), ("v2.6", "SUPPORTED"),
                        ("v2.5", "SUPPORTED"), ("v2.4", "SUPPORTED"), ("v2.3", "SUPPORTED"), ("v2.2", "SUPPORTED"),
                        ("v2.1", "SUPPORTED"), ("v2.0", "SUPPORTED")):
        entries.append({"id": vid, "status": status, "links": [{"rel": "self", "href": f"{host}/v2/"}]})
    return entries


@bp.get("/")
@public
def root():
    resp = jsonify(versions=_versions())
    resp.status_code = 300
    return resp


@bp.get("/versions")
@public
def versions():
    return jsonify(versions=_versions())


@bp.get("/v2/images")
def list_images():
    images, next_marker = manager().list(request.args, g.context)
    doc = {"images": [render(i) for i in images], "first": "/v2/images", "schema": "/v2/schemas/images"}
    if next_marker:
        args = {k: v for k, v in request.args.items() if k != "marker"}
        args["marker"] = next_marker
        doc["next"] = "/v2/images?" + urlencode(args)
    return jsonify(doc)


@bp.post("/v2/images")
def create_image():
    from appliance.policy import enforce
    enforce("image:create", {})
    img = manager().create(json_body(), g.context)
    resp = jsonify(render(img))
    resp.status_code = 201
    resp.headers["Location"] = f"/v2/images/{img.id}"
    return resp


@bp.get("/v2/images/<image_id>")
def show_image(image_id):
    return jsonify(render(manager().get(image_id, g.context)))


@bp.patch("/v2/images/<image_id>")
def update_image(image_id):
    if request.mimetype not in PATCH_TYPES:
        raise errors.UnsupportedMediaType(f"Unsupported Content-Type {request.mimetype!r}; use {PATCH_TYPES[0]}.")
    img = manager().patch(image_id, json_body(), g.context)
    return jsonify(render(img))


@bp.delete("/v2/images/<image_id>")
def delete_image(image_id):
    manager().delete(image_id, g.context)
    return "", 204


@bp.post("/v2/images/<image_id>/actions/deactivate")
def deactivate(image_id):
    manager().set_active(image_id, g.context, False)
    return "", 204


@bp.post("/v2/images/<image_id>/actions/reactivate")
def reactivate(image_id):
    manager().set_active(image_id, g.context, True)
    return "", 204


@bp.put("/v2/images/<image_id>/tags/<tag>")
def add_tag(image_id, tag):
    manager().tag(image_id, tag, g.context, True)
    return "", 204


@bp.delete("/v2/images/<image_id>/tags/<tag>")
def delete_tag(image_id, tag):
    manager().tag(image_id, tag, g.context, False)
    return "", 204


@bp.put("/v2/images/<image_id>/file")
@max_body(None)
def upload(image_id):
    if request.mimetype not in ("application/octet-stream", ""):
        raise errors.UnsupportedMediaType(f"Unsupported Content-Type {request.mimetype!r} for image data; "
                                          "use application/octet-stream.")
    manager().upload(image_id, request.stream, request.content_length, g.context)
    return "", 204


@bp.get("/v2/images/<image_id>/file")
def download(image_id):
    img, path = manager().data_path(image_id, g.context)
    if path is None or not path.exists():
        return "", 204
    size = path.stat().st_size
    try:
        rng = store.parse_range(request.headers.get("Range"), size)
    except ValueError as exc:
        raise errors.ApiError(f"Requested range not satisfiable: {exc}.", status=416,
                              headers={"Content-Range": f"bytes */{size}"}) from None
    headers = {"Content-MD5": img.checksum or "", "Accept-Ranges": "bytes"}
    if rng is None:
        body, status, length = store.iter_file(path), 200, size
    else:
        start, end = rng
        length = end - start + 1
        body, status = store.iter_file(path, start, length), 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(length)
    return Response(stream_with_context(body), status=status, mimetype="application/octet-stream",
                    headers=headers, direct_passthrough=True)


@bp.get("/v2/images/<image_id>/members")
def list_members(image_id):
    return jsonify(members=[render_member(m) for m in manager().members(image_id, g.context)],
                   schema="/v2/schemas/members")


@bp.post("/v2/images/<image_id>/members")
def add_member(image_id):
    body = json_body({"type": "object", "required": ["member"], "properties": {"member": {"type": "string"}}})
    return jsonify(render_member(manager().add_member(image_id, body["member"], g.context)))


@bp.get("/v2/images/<image_id>/members/<member_id>")
def show_member(image_id, member_id):
    return jsonify(render_member(manager().member(image_id, member_id, g.context)))


@bp.put("/v2/images/<image_id>/members/<member_id>")
def update_member(image_id, member_id):
    body = json_body({"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}})
    return jsonify(render_member(manager().set_member_status(image_id, member_id, body["status"], g.context)))


@bp.delete("/v2/images/<image_id>/members/<member_id>")
def delete_member(image_id, member_id):
    manager().delete_member(image_id, member_id, g.context)
    return "", 204


@bp.get("/v2/schemas/image")
def image_schema():
    # a minimal schema: clients use it to tell core attributes from properties
    props = {k: {"type": ["null", "string"]} for k in ("id", "name", "status", "visibility", "checksum",
                                                      "os_hash_algo", "os_hash_value", "owner", "disk_format",
                                                      "container_format", "created_at", "updated_at", "self",
                                                      "file", "schema")}
    props.update({"protected": {"type": "boolean"}, "os_hidden": {"type": "boolean"},
                  "size": {"type": ["null", "integer"]}, "virtual_size": {"type": ["null", "integer"]},
                  "min_ram": {"type": "integer"}, "min_disk": {"type": "integer"},
                  "tags": {"type": "array", "items": {"type": "string"}}})
    return jsonify({"name": "image", "properties": props, "additionalProperties": {"type": "string"},
                    "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                              {"rel": "describedby", "href": "{schema}"}]})
