"""/v2.0/subnets."""
from services.network import render, schemas
from services.network.api.common import crud, manager

bp = crud("subnets", "subnets", "subnet",
          list_fn=lambda c: manager().list_subnets(c),
          show_fn=lambda c, i: render.subnet(manager().get_subnet(c, i)),
          create_fn=lambda c, b: manager().create_subnet(c, b),
          update_fn=lambda c, i, b: manager().update_subnet(c, i, b),
          delete_fn=lambda c, i: manager().delete_subnet(c, i),
          create_schema=schemas.SUBNET_CREATE, update_schema=schemas.SUBNET_UPDATE)
