"""/v2.0/floatingips (the documents carry no `name` key)."""
from services.network import render, schemas
from services.network.api.common import crud, manager

bp = crud("floatingips", "floatingips", "floatingip",
          list_fn=lambda c: manager().list_floatingips(c),
          show_fn=lambda c, i: render.floatingip(manager().get_floatingip(c, i)),
          create_fn=lambda c, b: manager().create_floatingip(c, b),
          update_fn=lambda c, i, b: manager().update_floatingip(c, i, b),
          delete_fn=lambda c, i: manager().delete_floatingip(c, i),
          create_schema=schemas.FLOATINGIP_CREATE, update_schema=schemas.FLOATINGIP_UPDATE)
