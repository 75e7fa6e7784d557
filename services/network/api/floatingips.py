"""/v2.0/floatingips (the documents carry no `name` key)."""
from services.network import render, schemas
from services.network.api.access import manager
from services.network.api.resources import resource_routes

ROUTES = resource_routes("floatingips", "floatingip", of=lambda: manager().l3, show=render.floatingip,
                         create_schema=schemas.FLOATINGIP_CREATE, update_schema=schemas.FLOATINGIP_UPDATE)
