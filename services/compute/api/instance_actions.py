"""/servers/{id}/os-instance-actions: what was done to a server (`openstack server event list|show`)."""
from __future__ import annotations

from flask import jsonify

from appliance.routes import Route, RouteTable
from services.compute import instance_actions, render
from services.compute.api.servers import ADMIN, READ, SERVER, load_server
from services.compute.microversion import at_least


def _shown(row, events: bool = False) -> dict:
    out = render.instance_action(row, instance_actions.request_id(row), events)
    if not at_least(58):
        out.pop("updated_at")
    return out


def index(call):
    return jsonify(instanceActions=[_shown(r) for r in instance_actions.list_for(call.resource)])


def show(call):
    return jsonify(instanceAction=_shown(instance_actions.get(call.resource, call.args["request_id"]), True))


# a server's readers read its actions (Nova's os-instance-actions:list/show, reader of the project)
TABLE = RouteTable("compute_instance_actions", [
    Route("GET", f"{SERVER}/os-instance-actions", READ, index, load=load_server, checks=(ADMIN,)),
    Route("GET", f"{SERVER}/os-instance-actions/<request_id>", READ, show, load=load_server, checks=(ADMIN,)),
])
