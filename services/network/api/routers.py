"""/v2.0/routers and add/remove_router_interface."""
from flask import jsonify

from appliance.app import json_body
from services.network import schemas
from services.network.api.common import crud, manager, write_ctx

bp = crud("routers", "routers", "router",
          list_fn=lambda c: manager().list_routers(c),
          show_fn=lambda c, i: manager().render_router(manager().get_router(c, i)),
          create_fn=lambda c, b: manager().create_router(c, b),
          update_fn=lambda c, i, b: manager().update_router(c, i, b),
          delete_fn=lambda c, i: manager().delete_router(c, i),
          create_schema=schemas.ROUTER_CREATE, update_schema=schemas.ROUTER_UPDATE)


@bp.put("/v2.0/routers/<rid>/add_router_interface")
def add_interface(rid):
    body = json_body(schemas.ROUTER_INTERFACE)
    return jsonify(manager().add_router_interface(write_ctx(), rid, body))


@bp.put("/v2.0/routers/<rid>/remove_router_interface")
def remove_interface(rid):
    body = json_body(schemas.ROUTER_INTERFACE)
    return jsonify(manager().remove_router_interface(write_ctx(), rid, body))
