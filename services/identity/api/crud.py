"""The five routes of a plain identity resource (list, create, show, update, delete), built from data."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from appliance.routes import Call, Route
from services.identity import schemas
from services.identity.api.common import manager, query_filters, target
from services.identity.render import collection

VERBS = ("list", "create", "get", "update", "delete")


@dataclasses.dataclass(frozen=True)
class Resource:
    """One resource as data: names, schema properties, renderer, list filters and the owner of its writes."""
    collection: str                  # "projects": the path and the list document's key
    singular: str                    # "project": the body's key, the path argument "<project_id>", the rules
    props: dict                      # schema properties (schemas.PROJECT)
    render: Callable[[Any], dict]
    filters: tuple[str, ...] = ()    # query arguments a list filters on
    required: tuple[str, ...] = ("name",)
    rules: dict = dataclasses.field(default_factory=dict)    # verb -> rule; default identity:<verb>_<singular>
    store: Callable[[], Any] = manager  # what has create_/update_/delete_<singular> (the manager, or its catalog)
    keep: Callable[[Any], bool] | None = None   # a further list filter (project tags)

    def rule(self, verb: str) -> str:
        return self.rules.get(verb, f"identity:{verb}_{self.collection if verb == 'list' else self.singular}")


def _named(fn, name: str):
    fn.__name__ = name
    return fn


def crud(res: Resource) -> list[Route]:
    """list/create/show/update/delete of `res`, each enforcing identity:<verb>_<resource> in dispatch()."""
    one, many = res.singular, res.collection
    path, item = f"/v3/{many}", f"/v3/{many}/<{one}_id>"

    def ident(call: Call) -> str:
        return call.args[f"{one}_id"]

    def list_(call):
        rows = manager().list(one, query_filters(*res.filters))
        return [r for r in rows if res.keep(r)] if res.keep else rows

    def create(call):
        return getattr(res.store(), f"create_{one}")(call.body[one])

    def show(call):
        return manager().show(one, ident(call))

    def update(call):
        return getattr(res.store(), f"update_{one}")(ident(call), call.body[one])

    def delete(call):
        getattr(res.store(), f"delete_{one}")(ident(call))

    def render_one(obj):
        return {one: res.render(obj)}

    return [
        Route("GET", path, res.rule("list"), _named(list_, f"list_{many}"), target=target(),
              render=lambda rows: collection(many, [res.render(r) for r in rows])),
        Route("POST", path, res.rule("create"), _named(create, f"create_{one}"), target=target(),
              schema=schemas.create(one, res.props, res.required), render=render_one, status=201),
        Route("GET", item, res.rule("get"), _named(show, f"get_{one}"), target=target(), render=render_one),
        Route("PATCH", item, res.rule("update"), _named(update, f"update_{one}"), target=target(),
              schema=schemas.update(one, res.props), render=render_one),
        Route("DELETE", item, res.rule("delete"), _named(delete, f"delete_{one}"), target=target(),
              render=render_one, status=204),
    ]
