"""/v2.0/floatingips (the documents carry no `name` key)."""
from services.network import render, schemas
from services.network.api.access import loader, manager
from services.network.api.resources import resource_routes


def _get(c, i):
    return manager().l3.get_floatingip(c, i)


ROUTES = resource_routes(
    "floatingips", "floatingip",
    get=_get, show=render.floatingip,
    list_=lambda c: manager().l3.list_floatingips(c),
    create=lambda c, b: manager().l3.create_floatingip(c, b),
    update=lambda c, i, b: manager().l3.update_floatingip(c, i, b),
    delete=lambda c, i: manager().l3.delete_floatingip(c, i),
    create_schema=schemas.FLOATINGIP_CREATE, update_schema=schemas.FLOATINGIP_UPDATE,
    write_load=loader(_get))
