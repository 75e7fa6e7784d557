"""/v2.0/networks."""
from services.network import render, schemas
from services.network.api.common import crud, manager

bp = crud("networks", "networks", "network",
          list_fn=lambda c: manager().list_networks(c),
          show_fn=lambda c, i: render.network(manager().get_network(c, i)),
          create_fn=lambda c, b: manager().create_network(c, b),
          update_fn=lambda c, i, b: manager().update_network(c, i, b),
          delete_fn=lambda c, i: manager().delete_network(c, i),
          create_schema=schemas.NETWORK_CREATE, update_schema=schemas.NETWORK_UPDATE)
