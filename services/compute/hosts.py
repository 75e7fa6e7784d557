"""What the admin views (os-hypervisors, os-services, os-availability-zone) report: every node's row and usage."""
from __future__ import annotations

import dataclasses
import uuid

from appliance.errors import BadRequest, NotFound
from services.compute import scheduler
from services.compute.drivers.specs import RUNNING
from services.compute.models import Allocation, ComputeNode, Instance
from services.compute.scheduler import nodes


DEFAULT_ZONE = "nova"


def aggregate_uuid(zone: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, "egret-zone:" + zone))


@dataclasses.dataclass
class HostReport:
    node: ComputeNode
    seq: int            # the integer id microversions before 2.53 show
    running_vms: int
    vcpus_used: int
    memory_mb_used: int
    disk_gb_used: int
    busy: int           # servers with a task under way (Nova's current_workload)
    servers: list       # [(id, name)] of the servers on it

    @property
    def host(self) -> str:
        return self.node.host

    @property
    def up(self) -> bool:
        return self.node.state == "up"


def _nodes(manager) -> list[ComputeNode]:
    if not ComputeNode.select().where(ComputeNode.host == manager.host).exists():
        scheduler.register_local(manager.node)     # start-up has not registered this box yet
    return list(ComputeNode.select().order_by(ComputeNode.created_at, ComputeNode.host))


def reports(manager) -> list[HostReport]:
    """Every node, oldest first, with what its claims hold and what runs on it."""
    held: dict[str, list] = {}
    for alloc in Allocation.select():
        held.setdefault(alloc.host, []).append(alloc)
    live: dict[str, list] = {}
    for inst in Instance.select().where(Instance.deleted == False):
        live.setdefault(inst.host, []).append(inst)
    out = []
    for seq, node in enumerate(_nodes(manager), start=1):
        allocs, insts = held.get(node.host, []), live.get(node.host, [])
        out.append(HostReport(
            node=node, seq=seq, running_vms=len([i for i in insts if i.power_state == RUNNING]),
            vcpus_used=sum(a.vcpus + len(a.cpus or []) for a in allocs),
            memory_mb_used=sum(a.memory_mb for a in allocs), disk_gb_used=sum(a.disk_gb for a in allocs),
            busy=len([i for i in insts if i.task_state]), servers=[(i.id, i.name) for i in insts]))
    return out


def find(manager, ident: str, ids) -> HostReport:
    """The node whose id (as `ids(report)` renders it for this microversion) is `ident`; else Nova's 404."""
    for r in reports(manager):
        if str(ids(r)) == str(ident):
            return r
    raise NotFound(f"Hypervisor with ID '{ident}' could not be found.")


def matching(rs: list[HostReport], pattern: str | None) -> list[HostReport]:
    """?hypervisor_hostname_pattern: Nova matches a substring (SQL LIKE %pattern%); none matching is a 404."""
    if pattern is None:
        return rs
    found = [r for r in rs if pattern.lower() in r.host.lower()]
    if not found:
        raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
    return found


def update_service(manager, ident: str, ids, body: dict) -> HostReport:
    """PUT /os-services/{id} (2.53+): status enabled|disabled with a disabled_reason, or forced_down."""
    r = next((r for r in reports(manager) if str(ids(r)) == str(ident)), None)
    if r is None:
        raise NotFound(f"Service with ID {ident} could not be found.")
    if "status" not in body and "forced_down" not in body:
        raise BadRequest("Invalid input for field 'status': 'status' or 'forced_down' is required.")
    status = body.get("status")
    if body.get("disabled_reason") is not None and status != "disabled":
        raise BadRequest("Invalid input for field 'disabled_reason': only with status 'disabled'.")
    if status is not None:
        nodes.set_disabled(r.node, status == "disabled", body.get("disabled_reason"))
    if "forced_down" in body:
        nodes.force_down(r.host, body["forced_down"])
    return next(x for x in reports(manager) if x.host == r.host)


LEGACY_ACTIONS = ("enable", "disable", "disable-log-reason", "force-down")


def legacy_service_action(manager, action: str, body: dict) -> HostReport:
    """PUT /os-services/{enable,disable,disable-log-reason,force-down} (before 2.53): host and binary name it."""
    for field in ("host", "binary"):
        if not body.get(field):
            raise BadRequest(f"Invalid input for field '{field}': '{field}' is a required property.")
    if body["binary"] != "nova-compute":
        raise NotFound(f"Service {body['binary']} on host {body['host']} could not be found.")
    r = next((r for r in reports(manager) if r.host == body["host"]), None)
    if r is None:
        raise NotFound(f"Compute host {body['host']} could not be found.")
    if action == "disable-log-reason" and not body.get("disabled_reason"):
        raise BadRequest("Invalid input for field 'disabled_reason': 'disabled_reason' is a required property.")
    if action == "force-down":
        if not isinstance(body.get("forced_down"), bool):
            raise BadRequest("Invalid input for field 'forced_down': a boolean is required.")
        nodes.force_down(r.host, body["forced_down"])
    else:
        nodes.set_disabled(r.node, action != "enable", body.get("disabled_reason"))
    return next(x for x in reports(manager) if x.host == r.host)


def zones(manager) -> dict[str, list[HostReport]]:
    """zone -> its nodes."""
    out: dict[str, list[HostReport]] = {}
    for r in reports(manager):
        out.setdefault(r.node.availability_zone, []).append(r)
    return out
