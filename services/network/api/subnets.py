"""/v2.0/subnets."""
from services.network import render, schemas
from services.network.api.access import manager, owned
from services.network.api.resources import resource_routes

ROUTES = resource_routes(
    "subnets", "subnet",
    get=lambda c, i: manager().get_subnet(c, i), show=render.subnet,
    list_=lambda c: manager().list_subnets(c),
    create=lambda c, b: manager().create_subnet(c, b),
    update=lambda c, i, b: manager().update_subnet(c, i, b),
    delete=lambda c, i: manager().delete_subnet(c, i),
    create_schema=schemas.SUBNET_CREATE, update_schema=schemas.SUBNET_UPDATE,
    write_load=owned(lambda c, i: manager().get_subnet(c, i), "Subnet", "Subnet"))
