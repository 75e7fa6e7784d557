"""/v2.0/<resource>/<id>/tags: the standard-attr-tag extension for every taggable resource."""
from appliance.errors import ApiError, NotFound
from appliance.routes import Route
from services.network import schemas
from services.network.api.access import CTX_CHECKS, READ, WRITE, ctx, manager, read_target
from services.network.errors import bad_request

_GETTERS = {"networks": lambda m: m.get_network, "subnets": lambda m: m.get_subnet, "ports": lambda m: m.get_port,
            "routers": lambda m: m.l3.get_router, "floatingips": lambda m: m.l3.get_floatingip,
            "security-groups": lambda m: m.security_groups.get, "policies": lambda m: m.qos.get}
_TAGS, _TAG = "/v2.0/<resource>/<rid>/tags", "/v2.0/<resource>/<rid>/tags/<tag>"


def _tagged(call):
    """The resource the path names, if the caller sees it; changing its tags is its owner's (the rule's target)."""
    getter = _GETTERS.get(call.args["resource"])
    if getter is None:
        raise NotFound("The resource could not be found.")
    return getter(manager())(ctx(call), call.args["rid"])


def _check(tag):
    if not tag or len(tag) > 255 or "," in tag or "/" in tag:
        raise bad_request(f"Invalid input for operation: '{tag}' is not a valid tag.", "InvalidInput")


def _missing(tag) -> ApiError:
    return ApiError(f"Tag {tag} could not be found.", status=404, kind="TagNotFound")


def list_tags(call):
    return {"tags": list(call.resource.tags)}


def replace_tags(call):
    tags = call.body["tags"]
    for t in tags:
        _check(t)
    manager().set_tags(call.resource, sorted(set(tags)))
    return {"tags": call.resource.tags}


def clear_tags(call):
    manager().set_tags(call.resource, [])


def has_tag(call):
    if call.args["tag"] not in call.resource.tags:
        raise _missing(call.args["tag"])


def add_tag(call):
    tag, obj = call.args["tag"], call.resource
    _check(tag)
    if tag not in obj.tags:
        manager().set_tags(obj, sorted(set(obj.tags) | {tag}))


def remove_tag(call):
    tag, obj = call.args["tag"], call.resource
    if tag not in obj.tags:
        raise _missing(tag)
    manager().set_tags(obj, [t for t in obj.tags if t != tag])


def _same(doc):
    return doc


_KW = {"load": _tagged, "render": _same, "checks": CTX_CHECKS}
ROUTES = [
    Route("GET", _TAGS, READ, list_tags, target=read_target, **_KW),
    Route("PUT", _TAGS, WRITE, replace_tags, schema=schemas.TAGS_REPLACE, **_KW),
    Route("DELETE", _TAGS, WRITE, clear_tags, status=204, **_KW),
    Route("GET", _TAG, READ, has_tag, target=read_target, status=204, **_KW),
    Route("PUT", _TAG, WRITE, add_tag, status=201, **_KW),
    Route("DELETE", _TAG, WRITE, remove_tag, status=204, **_KW),
]
