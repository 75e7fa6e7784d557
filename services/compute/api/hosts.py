"""Availability zones, and the operators' views of the host: /os-hypervisors, /os-services."""
from __future__ import annotations

from flask import jsonify

from appliance.db import utcnow
from appliance.errors import NotFound
from appliance.routes import ANY_TOKEN, Route, RouteTable, manager
from services.compute import hosts, render

HYPERVISORS = "compute:hypervisors"


def zones(call):
    return jsonify(availabilityZoneInfo=[{"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}])


def hypervisors(call):
    return jsonify(hypervisors=[render.hypervisor(hosts.report(manager()), False)])


def hypervisors_detail(call):
    return jsonify(hypervisors=[render.hypervisor(hosts.report(manager()), True)])


def hypervisor(call):
    body = render.hypervisor(hosts.report(manager()), True)
    if str(body["id"]) != call.args["hid"]:
        raise NotFound(f"Hypervisor with ID '{call.args['hid']}' could not be found.")
    return jsonify(hypervisor=body)


def statistics(call):
    return jsonify(hypervisor_statistics=render.hypervisor_statistics(hosts.report(manager())))


def services(call):
    rows = [render.compute_service(manager().host, utcnow())]
    if call.query.get("binary"):
        rows = [r for r in rows if r["binary"] == call.query["binary"]]
    return jsonify(services=rows)


TABLE = RouteTable("compute_hosts", [
    Route("GET", "/v2.1/os-availability-zone", ANY_TOKEN, zones),
    # hosts and services per zone: operators only, as in Nova
    Route("GET", "/v2.1/os-availability-zone/detail", "compute:availability_zones:detail", zones),
    Route("GET", "/v2.1/os-hypervisors", HYPERVISORS, hypervisors),
    Route("GET", "/v2.1/os-hypervisors/detail", HYPERVISORS, hypervisors_detail),
    Route("GET", "/v2.1/os-hypervisors/statistics", HYPERVISORS, statistics),
    Route("GET", "/v2.1/os-hypervisors/<hid>", HYPERVISORS, hypervisor),
    Route("GET", "/v2.1/os-services", "compute:services", services),
])
