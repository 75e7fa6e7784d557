"""/v2.0/routers and add/remove_router_interface."""
from appliance.routes import Route
from services.network import render, schemas
from services.network.api.access import CTX_CHECKS, WRITE, ctx, loader, manager
from services.network.api.resources import named, resource_routes


def _get(c, i):
    return manager().l3.get_router(c, i)


def _interface(action: str) -> Route:
    def handler(call):
        return getattr(manager().l3, f"{action}_router_interface")(ctx(call), call.args["rid"], call.body)
    return Route("PUT", f"/v2.0/routers/<rid>/{action}_router_interface", WRITE, named(f"{action}_interface", handler),
                 schema=schemas.ROUTER_INTERFACE, load=loader(_get), render=lambda info: info, checks=CTX_CHECKS)


ROUTES = resource_routes(
    "routers", "router",
    get=_get, show=render.router,
    list_=lambda c: manager().l3.list_routers(c),
    create=lambda c, b: manager().l3.create_router(c, b),
    update=lambda c, i, b: manager().l3.update_router(c, i, b),
    delete=lambda c, i: manager().l3.delete_router(c, i),
    create_schema=schemas.ROUTER_CREATE, update_schema=schemas.ROUTER_UPDATE,
    write_load=loader(_get)) + [_interface("add"), _interface("remove")]
