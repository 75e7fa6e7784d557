"""/v2.0/ports (compute binds them with binding:host_id, device_id and device_owner)."""
from services.network import render, schemas
from services.network.api.common import crud, manager

bp = crud("ports", "ports", "port",
          list_fn=lambda c: manager().list_ports(c),
          show_fn=lambda c, i: render.port(manager().get_port(c, i)),
          create_fn=lambda c, b: manager().create_port(c, b),
          update_fn=lambda c, i, b: manager().update_port(c, i, b),
          delete_fn=lambda c, i: manager().delete_port(c, i),
          create_schema=schemas.PORT_CREATE, update_schema=schemas.PORT_UPDATE)
