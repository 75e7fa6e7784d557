"""/v2.0/routers and add/remove_router_interface."""
from appliance.routes import Route
from services.network import render, schemas
from services.network.api.access import CTX_CHECKS, WRITE, ctx, loader, manager
from services.network.api.resources import named, resource_routes


def _interface(action: str) -> Route:
    def handler(call):
        return getattr(manager().l3, f"{action}_router_interface")(ctx(call), call.args["rid"], call.body)
    return Route("PUT", f"/v2.0/routers/<rid>/{action}_router_interface", WRITE,
                 named(f"{action}_router_interface", handler), schema=schemas.ROUTER_INTERFACE,
                 load=loader(lambda c, i: manager().l3.get_router(c, i)), render=lambda info: info,
                 checks=CTX_CHECKS)


ROUTES = resource_routes("routers", "router", of=lambda: manager().l3, show=render.router,
                         create_schema=schemas.ROUTER_CREATE, update_schema=schemas.ROUTER_UPDATE,
                         ) + [_interface("add"), _interface("remove")]
