"""The availability zone a create asks for: a zone some node is in, and zone:host only for admins."""
from __future__ import annotations

from appliance.errors import BadRequest, Forbidden
from services.compute.models import ComputeNode
from services.compute.scheduler.request import parse_zone

FORCED_HOST = "compute:servers:create:forced_host"


def check_requested(value: str | None, may_force_host: bool) -> None:
    """Refuse (before anything is recorded) a zone no node is in, or a zone:host from a non-admin."""
    if value is None:
        return
    zone, host = parse_zone(value)
    if host is not None and not may_force_host:
        raise Forbidden(f"Policy doesn't allow {FORCED_HOST} to be performed.")
    if not ComputeNode.select().exists():
        return   # no node has registered yet (libvirt still answering): the claim's zone filter decides
    if zone is not None and not ComputeNode.select().where(ComputeNode.availability_zone == zone).exists():
        raise BadRequest(f"Invalid input for field 'server/availability_zone': the requested availability zone "
                         f"{zone!r} is not available.")
    if host is not None and not ComputeNode.select().where(ComputeNode.host == host).exists():
        raise BadRequest(f"Invalid input for field 'server/availability_zone': no compute node {host!r}.")
