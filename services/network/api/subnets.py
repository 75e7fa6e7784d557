"""/v2.0/subnets."""
from services.network import render, schemas
from services.network.api.access import manager
from services.network.api.resources import resource_routes

ROUTES = resource_routes("subnets", "subnet", of=manager, show=render.subnet, writes="owned",
                         create_schema=schemas.SUBNET_CREATE, update_schema=schemas.SUBNET_UPDATE)
