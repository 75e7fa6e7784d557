"""Glance v2 API: version discovery, images, image data, tags, members, (de)activation."""
from __future__ import annotations

import functools
from urllib.parse import urlencode

from flask import Response, jsonify, request, stream_with_context

from appliance import errors
from appliance.app import max_body, settings_of
from appliance.routes import ANY_TOKEN, PUBLIC, Route, RouteTable
from services.storage import render, store
from services.storage.api.targets import body_first, nothing, storage

PATCH_TYPES = ("application/openstack-images-v2.1-json-patch", "application/openstack-images-v2.0-json-patch")
# Glance's modify_image default: the owner's members (its readers only read) or an admin
NOT_PERMITTED = "You are not permitted to modify image {image_id}."


def manager():
    return storage().images


def _versions():
    base = settings_of().url("image")
    host = request.host_url.rstrip("/") if request.host else base
    entries = []
    for vid, status in (("v2.9", "CURRENT"), ("v2.8", "SUPPORTED"), ("v2.7", "SUPPORTED"), ("v2.6", "SUPPORTED"),
                        ("v2.5", "SUPPORTED"), ("v2.4", "SUPPORTED"), ("v2.3", "SUPPORTED"), ("v2.2", "SUPPORTED"),
                        ("v2.1", "SUPPORTED"), ("v2.0", "SUPPORTED")):
        entries.append({"id": vid, "status": status, "links": [{"rel": "self", "href": f"{host}/v2/"}]})
    return entries


def content_type(allowed, message):
    """The media type is refused (415) before anything is looked up or decided, as Glance does."""
    def deco(view):
        @functools.wraps(view)
        def checked(**args):
            if request.mimetype not in allowed:
                raise errors.UnsupportedMediaType(message.format(mimetype=request.mimetype))
            return view(**args)
        return checked
    return deco


def image(call):
    return manager().get(call.args["image_id"], call.context)


# --- handlers ---------------------------------------------------------------------------------------------------
def root(call):
    resp = jsonify(versions=_versions())
    resp.status_code = 300
    return resp


def versions(call):
    return jsonify(versions=_versions())


def list_images(call):
    images, next_marker = manager().list(request.args, call.context)
    doc = {"images": [render.image(i) for i in images], "first": "/v2/images", "schema": "/v2/schemas/images"}
    if next_marker:
        args = {k: v for k, v in request.args.items() if k != "marker"}
        args["marker"] = next_marker
        doc["next"] = "/v2/images?" + urlencode(args)
    return jsonify(doc)


def create_image(call):
    img = manager().create(call.body, call.context, call.check)
    resp = jsonify(render.image(img))
    resp.status_code = 201
    resp.headers["Location"] = f"/v2/images/{img.id}"
    return resp


def show_image(call):
    return call.resource


def update_image(call):
    return manager().patch(call.resource, call.body, call.check)


def delete_image(call):
    manager().delete(call.resource)
    return "", 204


def deactivate(call):
    manager().set_active(call.resource, False)
    return "", 204


def reactivate(call):
    manager().set_active(call.resource, True)
    return "", 204


def add_tag(call):
    manager().tag(call.resource, call.args["tag"], True)
    return "", 204


def delete_tag(call):
    manager().tag(call.resource, call.args["tag"], False)
    return "", 204


def upload(call):
    manager().upload(call.resource, request.stream, request.content_length)
    return "", 204


def download(call):
    img, readable = manager().data(call.args["image_id"], call.context)
    size = manager().stored_size(img.id) if readable else None
    if size is None:
        return "", 204
    try:
        rng = store.parse_range(request.headers.get("Range"), size)
    except ValueError as exc:
        raise errors.ApiError(f"Requested range not satisfiable: {exc}.", status=416,
                              headers={"Content-Range": f"bytes */{size}"}) from None
    headers = {"Content-MD5": img.checksum or "", "Accept-Ranges": "bytes"}
    if rng is None:
        body, status, length = manager().read(img.id), 200, size
    else:
        start, end = rng
        length = end - start + 1
        body, status = manager().read(img.id, start, length), 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(length)
    return Response(stream_with_context(body), status=status, mimetype="application/octet-stream",
                    headers=headers, direct_passthrough=True)


def list_members(call):
    return jsonify(members=[render.member(m) for m in manager().members(call.args["image_id"], call.context)],
                   schema="/v2/schemas/members")


def add_member(call):
    return manager().add_member(call.resource, call.body["member"])


def show_member(call):
    return manager().member(call.args["image_id"], call.args["member_id"], call.context)


def update_member(call):
    status = call.body["status"]
    return manager().set_member_status(call.args["image_id"], call.args["member_id"], status, call.context)


def delete_member(call):
    manager().delete_member(call.resource, call.args["member_id"], call.context)
    return "", 204


def image_schema(call):
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


# --- the table ----------------------------------------------------------------------------------------------------
I = "/v2/images/<image_id>"
# visible images are loaded first (404 hides the rest), then the rule decides on the image's owner
OWNED = {"load": image, "deny": NOT_PERMITTED}
KNOBS = ("image:publicize_image", "image:set_owner")
PATCH_ONLY = content_type(PATCH_TYPES, "Unsupported Content-Type {mimetype!r}; use " + PATCH_TYPES[0] + ".")
OCTETS_ONLY = content_type(("application/octet-stream", ""), "Unsupported Content-Type {mimetype!r} for image "
                                                             "data; use application/octet-stream.")
_MEMBER = {"type": "object", "required": ["member"], "properties": {"member": {"type": "string"}}}
_STATUS = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}

ROUTES = RouteTable("images", [
    Route("GET", "/", PUBLIC, root),
    Route("GET", "/versions", PUBLIC, versions),
    Route("GET", "/v2/images", ANY_TOKEN, list_images),
    Route("POST", "/v2/images", "image:create", create_image, target=nothing, checks=KNOBS),
    Route("GET", I, ANY_TOKEN, show_image, load=image, render=render.image),
    # Glance read the patch document before it looked the image up
    Route("PATCH", I, "image:modify", update_image, load=body_first(image), deny=NOT_PERMITTED, checks=KNOBS,
          render=render.image, wrap=(PATCH_ONLY,)),
    Route("DELETE", I, "image:modify", delete_image, **OWNED),
    Route("POST", f"{I}/actions/deactivate", "image:deactivate", deactivate, **OWNED),
    Route("POST", f"{I}/actions/reactivate", "image:reactivate", reactivate, **OWNED),
    Route("PUT", f"{I}/tags/<tag>", "image:modify", add_tag, **OWNED),
    Route("DELETE", f"{I}/tags/<tag>", "image:modify", delete_tag, **OWNED),
    Route("PUT", f"{I}/file", "image:upload", upload, wrap=(OCTETS_ONLY, max_body(None)), **OWNED),
    Route("GET", f"{I}/file", ANY_TOKEN, download),
    Route("GET", f"{I}/members", ANY_TOKEN, list_members),
    Route("POST", f"{I}/members", "image:modify", add_member, schema=_MEMBER, load=body_first(image),
          deny=NOT_PERMITTED, render=render.member),
    Route("GET", f"{I}/members/<member_id>", ANY_TOKEN, show_member, render=render.member),
    Route("PUT", f"{I}/members/<member_id>", ANY_TOKEN, update_member, schema=_STATUS, render=render.member),
    Route("DELETE", f"{I}/members/<member_id>", "image:modify", delete_member, **OWNED),
    Route("GET", "/v2/schemas/image", ANY_TOKEN, image_schema),
])
