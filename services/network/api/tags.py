"""/v2.0/<resource>/<id>/tags: the standard-attr-tag extension for every taggable resource."""
from flask import Blueprint, jsonify

from appliance.app import json_body
from services.network import schemas
from services.network.api.common import ctx, manager, write_ctx
from services.network.errors import bad_request

bp = Blueprint("tags", __name__)

_GETTERS = {"networks": "get_network", "subnets": "get_subnet", "ports": "get_port", "routers": "get_router",
            "floatingips": "get_floatingip", "security-groups": "get_security_group", "policies": "get_qos_policy"}


def _obj(resource, rid, write=True):
    getter = _GETTERS.get(resource)
    if getter is None:
        from appliance.errors import NotFound
        raise NotFound("The resource could not be found.")
    obj = getattr(manager(), getter)(ctx(), rid)
    if write:
        # seeing a resource (an external or shared network) is not owning it: tags change with its owner's rights
        write_ctx(obj.project_id)
    return obj


def _save(obj, tags):
    obj.tags = tags
    obj.revision_number += 1
    obj.save()


def _check(tag):
    if not tag or len(tag) > 255 or "," in tag or "/" in tag:
        raise bad_request(f"Invalid input for operation: '{tag}' is not a valid tag.", "InvalidInput")


@bp.get("/v2.0/<resource>/<rid>/tags")
def list_tags(resource, rid):
    return jsonify({"tags": list(_obj(resource, rid, write=False).tags)})


@bp.put("/v2.0/<resource>/<rid>/tags")
def replace_tags(resource, rid):
    body = json_body(schemas.TAGS_REPLACE)
    for t in body["tags"]:
        _check(t)
    obj = _obj(resource, rid)
    _save(obj, sorted(set(body["tags"])))
    return jsonify({"tags": obj.tags})


@bp.delete("/v2.0/<resource>/<rid>/tags")
def clear_tags(resource, rid):
    _save(_obj(resource, rid), [])
    return "", 204


@bp.get("/v2.0/<resource>/<rid>/tags/<tag>")
def has_tag(resource, rid, tag):
    if tag not in _obj(resource, rid, write=False).tags:
        from appliance.errors import ApiError
        raise ApiError(f"Tag {tag} could not be found.", status=404, kind="TagNotFound")
    return "", 204


@bp.put("/v2.0/<resource>/<rid>/tags/<tag>")
def add_tag(resource, rid, tag):
    _check(tag)
    obj = _obj(resource, rid)
    if tag not in obj.tags:
        _save(obj, sorted(set(obj.tags) | {tag}))
    return "", 201


@bp.delete("/v2.0/<resource>/<rid>/tags/<tag>")
def remove_tag(resource, rid, tag):
    obj = _obj(resource, rid)
    if tag not in obj.tags:
        from appliance.errors import ApiError
        raise ApiError(f"Tag {tag} could not be found.", status=404, kind="TagNotFound")
    _save(obj, [t for t in obj.tags if t != tag])
    return "", 204
