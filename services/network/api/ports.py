"""/v2.0/ports (compute binds them with binding:host_id, device_id and device_owner)."""
from services.network import render, schemas
from services.network.api.access import BINDING, creating, ctx, item, manager
from services.network.api.resources import resource_routes

_BINDING_FIELDS = {"binding:host_id": BINDING, "binding:profile": BINDING}


def _create_target(call) -> dict:
    # a network the caller cannot use does not exist for it (404), before any rule on the port's attributes
    manager().port_network(ctx(call), item(call, "port")["network_id"])
    return creating("port")(call)


ROUTES = resource_routes("ports", "port", of=manager, show=render.port, writes="binder",
                         create_schema=schemas.PORT_CREATE, update_schema=schemas.PORT_UPDATE,
                         create_target=_create_target, create_fields=_BINDING_FIELDS, update_fields=_BINDING_FIELDS)
