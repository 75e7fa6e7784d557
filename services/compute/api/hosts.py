"""Availability zones, and the operators' views of the nodes: /os-hypervisors, /os-services."""
from __future__ import annotations

from flask import jsonify

from appliance.errors import ApiError, BadRequest
from appliance.routes import ANY_TOKEN, Route, RouteTable, manager
from services.compute import hosts, render
from services.compute.microversion import at_least

HYPERVISORS = "compute:hypervisors"
SERVICES = "compute:services"

SERVICE_UPDATE = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["enabled", "disabled"]},
        "disabled_reason": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
        "forced_down": {"type": "boolean"},
        # before 2.53 the action is in the path and the body names the service
        "host": {"type": "string", "minLength": 1, "maxLength": 255},
        "binary": {"type": "string", "minLength": 1, "maxLength": 255},
    },
    "additionalProperties": False,
}


def _zone_entry(name: str, reports, detail: bool) -> dict:
    available = any(r.up and not r.node.disabled for r in reports)
    entry = {"zoneName": name, "zoneState": {"available": available}, "hosts": None}
    if detail:
        entry["hosts"] = {r.host: {"nova-compute": {"available": r.up, "active": not r.node.disabled,
                                                    "updated_at": render.iso(r.node.updated_at)}}
                          for r in reports}
    return entry


def zones(call):
    return jsonify(availabilityZoneInfo=[_zone_entry(z, rs, False) for z, rs in sorted(hosts.zones(manager()).items())])


def zones_detail(call):
    return jsonify(availabilityZoneInfo=[_zone_entry(z, rs, True) for z, rs in sorted(hosts.zones(manager()).items())])


def aggregates(call):
    """Nova keeps a zone as a host aggregate with availability_zone metadata; the default zone has none."""
    body = []
    for seq, (zone, rs) in enumerate(sorted(hosts.zones(manager()).items()), start=1):
        if zone == hosts.DEFAULT_ZONE:
            continue
        created = min(r.node.created_at for r in rs)
        body.append({"id": seq, "uuid": hosts.aggregate_uuid(zone), "name": zone, "availability_zone": zone,
                     "hosts": sorted(r.host for r in rs), "metadata": {"availability_zone": zone},
                     "created_at": render.iso(created), "updated_at": None, "deleted": False, "deleted_at": None})
    return jsonify(aggregates=body)


def _listing(call, detail: bool):
    rs = hosts.matching(hosts.reports(manager()), call.query.get("hypervisor_hostname_pattern"))
    with_servers = str(call.query.get("with_servers", "")).lower() in ("1", "true", "yes")
    return jsonify(hypervisors=[render.hypervisor(r, detail, with_servers) for r in rs])


def hypervisors(call):
    return _listing(call, False)


def hypervisors_detail(call):
    return _listing(call, True)


def hypervisor(call):
    r = hosts.find(manager(), call.args["hid"], render.hypervisor_id)
    with_servers = str(call.query.get("with_servers", "")).lower() in ("1", "true", "yes")
    return jsonify(hypervisor=render.hypervisor(r, True, with_servers))


def uptime(call):
    """Nova's answer for a driver without an uptime (the node's own clock is not the API's to read)."""
    hosts.find(manager(), call.args["hid"], render.hypervisor_id)
    raise ApiError("Virt driver does not implement uptime function.", status=501)


def statistics(call):
    return jsonify(hypervisor_statistics=render.hypervisor_statistics(hosts.reports(manager())))


def services(call):
    rows = [render.compute_service(r) for r in hosts.reports(manager())]
    for key in ("binary", "host"):
        if call.query.get(key):
            rows = [r for r in rows if r[key] == call.query[key]]
    return jsonify(services=rows)


def update_service(call):
    sid, body = call.args["sid"], call.body
    if not at_least(53) or sid in hosts.LEGACY_ACTIONS:
        if sid not in hosts.LEGACY_ACTIONS:
            raise BadRequest(f"Unknown action {sid!r}: use {', '.join(hosts.LEGACY_ACTIONS)}.")
        r = hosts.legacy_service_action(manager(), sid, body)
        out = {"host": r.host, "binary": "nova-compute", "status": "disabled" if r.node.disabled else "enabled"}
        if sid == "disable-log-reason":
            out["disabled_reason"] = r.node.disabled_reason
        if sid == "force-down":
            out = {"host": r.host, "binary": "nova-compute", "forced_down": bool(r.node.forced_down)}
        return jsonify(service=out)
    for field in ("host", "binary"):
        if field in body:
            raise BadRequest(f"Invalid input for field '{field}': not allowed from 2.53 (the path names the service).")
    return jsonify(service=render.compute_service(hosts.update_service(manager(), sid, render.service_id, body)))


TABLE = RouteTable("compute_hosts", [
    Route("GET", "/v2.1/os-availability-zone", ANY_TOKEN, zones),
    # hosts and services per zone: operators only, as in Nova
    Route("GET", "/v2.1/os-availability-zone/detail", "compute:availability_zones:detail", zones_detail),
    Route("GET", "/v2.1/os-hypervisors", HYPERVISORS, hypervisors),
    Route("GET", "/v2.1/os-hypervisors/detail", HYPERVISORS, hypervisors_detail),
    Route("GET", "/v2.1/os-hypervisors/statistics", HYPERVISORS, statistics),
    Route("GET", "/v2.1/os-hypervisors/<hid>", HYPERVISORS, hypervisor),
    Route("GET", "/v2.1/os-hypervisors/<hid>/uptime", HYPERVISORS, uptime),
    Route("GET", "/v2.1/os-services", SERVICES, services),
    # read-only: the zones as Nova's aggregates (`openstack hypervisor show` lists a host's aggregates)
    Route("GET", "/v2.1/os-aggregates", "compute:aggregates", aggregates),
    Route("PUT", "/v2.1/os-services/<sid>", SERVICES, update_service, schema=SERVICE_UPDATE),
])
