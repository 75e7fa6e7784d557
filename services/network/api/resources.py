"""Neutron's five verbs over a collection, declared as routes (what crud() wired by hand before)."""
from __future__ import annotations

from collections.abc import Callable

from appliance.routes import Route
from services.network.api.access import CTX_CHECKS, READ, WRITE, creating, ctx, item, loader, owned, read_target
from services.network.api.listing import list_body, show_body
from services.network.errors import bad_request

_READ_ONLY = ("id", "project_id", "tenant_id", "created_at", "updated_at", "revision_number")
VERBS = ("list", "get", "create", "update", "delete")


def named(name: str, fn: Callable) -> Callable:
    """Name a handler (the route table and the endpoint show it)."""
    fn.__name__ = name
    return fn


def resource_routes(collection: str, singular: str, *, of: Callable, show: Callable, url: str | None = None,
                    names: dict | None = None, verbs=VERBS, create_schema=None, update_schema=None,
                    writes: str = "load", write_rule: str = WRITE, create_fields=None, update_fields=None,
                    unset=(), create_target=None) -> list[Route]:
    """GET (list), POST, GET/PUT/DELETE <rid> over `url` (default /v2.0/<collection>).

    `of()` is the manager (or collaborator) serving the collection, its methods named `names` (default:
    list_<collection>, get_<singular>, create_/update_/delete_<singular>): `get(ctx, rid)` returns what the
    caller sees (404 otherwise), `show(obj)` renders it. `writes` says how PUT/DELETE load their resource:
    "load" (the getter, which hides what the caller does not own), "owned" (the getter, and what the caller sees
    without owning it is hidden too), "binder" (as "owned", but whoever binds ports may change it), "after-rule"
    (no load: the rule refuses first, then the manager looks it up, e.g. QoS's operator-only writes)."""
    base = url or f"/v2.0/{collection}"
    names = {"list": f"list_{collection}", "get": f"get_{singular}", "create": f"create_{singular}",
             "update": f"update_{singular}", "delete": f"delete_{singular}", **(names or {})}

    def op(verb):
        return lambda *a: getattr(of(), names[verb])(*a)

    get = op("get")
    write_load = {"load": lambda: loader(get), "owned": lambda: owned(get, singular.capitalize()),
                  "binder": lambda: owned(get, singular.capitalize(), binder=True),
                  "after-rule": lambda: None}[writes]()
    kw = {"checks": CTX_CHECKS}
    out = [
        Route("GET", base, READ, named(f"list_{collection}", lambda call: op("list")(ctx(call))),
              render=lambda docs: list_body(collection, docs), **kw),
        Route("GET", base + "/<rid>", READ, named(f"show_{singular}", lambda call: call.resource),
              load=loader(get), target=read_target, render=lambda obj: show_body(singular, show(obj)), **kw),
    ]
    if "create" in verbs:
        out.append(Route("POST", base, write_rule,
                         named(f"create_{singular}", lambda call: op("create")(ctx(call), item(call, singular))),
                         schema=create_schema, target=create_target or creating(singular),
                         fields=create_fields or {}, unset=unset, status=201, render=lambda doc: {singular: doc},
                         **kw))
    if "update" in verbs:
        def _update(call):
            doc = call.body[singular]
            for ro in _READ_ONLY:
                if ro in doc:
                    raise bad_request(f"Cannot update read-only attribute {ro}", "HTTPBadRequest")
            return op("update")(ctx(call), call.args["rid"], doc)
        out.append(Route("PUT", base + "/<rid>", write_rule, named(f"update_{singular}", _update),
                         schema=update_schema, load=write_load, fields=update_fields or {},
                         render=lambda doc: {singular: doc}, **kw))
    if "delete" in verbs:
        out.append(Route("DELETE", base + "/<rid>", write_rule,
                         named(f"delete_{singular}", lambda call: op("delete")(ctx(call), call.args["rid"])),
                         load=write_load, status=204, render=lambda result: result, **kw))
    return out
