"""Neutron's five verbs over a collection, declared as routes (what crud() wired by hand before)."""
from __future__ import annotations

from collections.abc import Callable

from appliance.routes import Route
from services.network.api.access import CTX_CHECKS, READ, WRITE, creating, ctx, item, loader, read_target
from services.network.api.listing import list_body, show_body
from services.network.errors import bad_request

_READ_ONLY = ("id", "project_id", "tenant_id", "created_at", "updated_at", "revision_number")


def named(name: str, fn: Callable) -> Callable:
    """Name a handler (the route table and the endpoint show it)."""
    fn.__name__ = name
    return fn


def resource_routes(collection: str, singular: str, *, get, list_, show, url: str | None = None, create=None,
                    update=None, delete=None, create_schema=None, update_schema=None, write_load=None,
                    write_rule: str = WRITE, create_fields=None, update_fields=None, unset=(),
                    create_target=None) -> list[Route]:
    """GET (list), POST, GET/PUT/DELETE <rid> over `url` (default /v2.0/<collection>).

    `get(ctx, rid)` loads what the caller sees (404 otherwise) and `show(obj)` renders it; `list_(ctx)` returns
    the visible documents; `create(ctx, body)`, `update(ctx, rid, body)`, `delete(ctx, rid)` are the manager's.
    `write_load` loads for PUT/DELETE (None: the manager loads after the rule, e.g. QoS's operator-only rule
    refuses a member before any lookup)."""
    base = url or f"/v2.0/{collection}"
    kw = {"checks": CTX_CHECKS}
    out = [
        Route("GET", base, READ, named(f"list_{collection}", lambda call: list_(ctx(call))),
              render=lambda docs: list_body(collection, docs), **kw),
        Route("GET", base + "/<rid>", READ, named(f"show_{singular}", lambda call: call.resource),
              load=loader(get), target=read_target, render=lambda obj: show_body(singular, show(obj)), **kw),
    ]
    if create:
        out.append(Route("POST", base, write_rule,
                         named(f"create_{singular}", lambda call: create(ctx(call), item(call, singular))),
                         schema=create_schema, target=create_target or creating(singular),
                         fields=create_fields or {}, unset=unset, status=201, render=lambda doc: {singular: doc},
                         **kw))
    if update:
        def _update(call):
            doc = call.body[singular]
            for ro in _READ_ONLY:
                if ro in doc:
                    raise bad_request(f"Cannot update read-only attribute {ro}", "HTTPBadRequest")
            return update(ctx(call), call.args["rid"], doc)
        out.append(Route("PUT", base + "/<rid>", write_rule, named(f"update_{singular}", _update),
                         schema=update_schema, load=write_load, fields=update_fields or {},
                         render=lambda doc: {singular: doc}, **kw))
    if delete:
        out.append(Route("DELETE", base + "/<rid>", write_rule,
                         named(f"delete_{singular}", lambda call: delete(ctx(call), call.args["rid"])),
                         load=write_load, status=204, render=lambda result: result, **kw))
    return out
