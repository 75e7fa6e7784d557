"""/os-migrations: every server move of the site (`openstack server migration list`), admins only."""
from __future__ import annotations

from flask import jsonify

from appliance.routes import Route, RouteTable
from services.compute import moves, render
from services.compute.microversion import at_least

INDEX = "os_compute_api:os-migrations:index"


def index(call):
    out = []
    for row, inst in moves.list_migrations(call.query):
        entry = render.migration(row, inst)
        if not at_least(59):
            entry.pop("uuid")
        if not at_least(23):
            entry.pop("migration_type")
        out.append(entry)
    return jsonify(migrations=out)


TABLE = RouteTable("compute_migrations", [Route("GET", "/v2.1/os-migrations", INDEX, index)])
