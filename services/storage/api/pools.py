"""Cinder v3 scheduler-stats: the backend pool this box's volumes live in, and what it can do (iSCSI or not)."""
from __future__ import annotations

from flask import jsonify

from appliance import errors
from appliance.routes import Route, RouteTable
from services.storage import render
from services.storage.api.targets import own_project, storage

P = "/v3/<project_id>/scheduler-stats/get_pools"
RULE = "scheduler_extension:scheduler_stats:get_pools"
_TRUE, _FALSE = {"true", "1", "yes", "y", "on", "t"}, {"false", "0", "no", "n", "off", "f"}


def _detail(call) -> bool:
    raw = call.query.get("detail")
    if raw is None:
        return False
    if raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    shown = raw[:40].encode("ascii", "backslashreplace").decode()
    raise errors.BadRequest(f"Invalid input for field 'detail': {shown!r} is not a boolean.")


def get_pools(call):
    # one pool, named as volumes' os-vol-host-attr:host names it: compute matches the two
    s = storage()
    name = render.volume_host(s.settings)
    pool = {"name": name}
    if _detail(call):
        pool["capabilities"] = s.volumes.pool_capabilities(name, s.exports.storage_protocol())
    return jsonify(pools=[pool])


ROUTES = RouteTable("pools", [
    Route("GET", P, RULE, get_pools, target=own_project),
])
