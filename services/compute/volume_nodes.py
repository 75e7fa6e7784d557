"""Where a server's volumes live on a site: the node whose disk holds each one, as a compute host name.

A volume is a file on the storage box's disk (no iSCSI target on these kernels), so a server can use it only on
that node. Storage says which node in `os-vol-host-attr:host` (Cinder's "<node>@<backend>#<pool>", shown to
compute's service user) and in an attachment's connection_info (`data.node`). Neither is trusted blindly: a
missing or malformed value, or a name no compute node has, means the volume is this box's own, where the
storage service runs.
"""
from __future__ import annotations

import re

from appliance.cluster import membership
from appliance.errors import BadRequest, Conflict, NotFound
from services.compute.external import ExternalError
from services.compute.faults import BuildError
from services.compute.models import ComputeNode

HOST_ATTR = "os-vol-host-attr:host"
# compute's own record of a volume's node in VolumeAttachment.connection_info (before and after connecting)
RECORD = "egret:node"
# a node name as the cluster accepts one (no '@', '#', ':', spaces, markup or path separators)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def parse(value) -> str | None:
    """The node of "<node>@<backend>#<pool>" (or a bare node name); None for anything else."""
    if not isinstance(value, str):
        return None
    name = value.split("@", 1)[0].split("#", 1)[0]
    return name if _NAME.fullmatch(name) else None


def me(node) -> set[str]:
    """This box's names: its compute host and its name in the site (they may differ on a founder)."""
    return {node.host, membership.node_name(node.settings)}


def to_host(node, value) -> str:
    """The compute host whose disk holds a volume whose storage names `value`: another node of the site when it
    names one; else this box (its own names, anything that is not a node name, and a name no compute node has:
    the site's storage runs on one of its nodes, so that is this box under another spelling, e.g. a FQDN)."""
    name = parse(value)
    if name is None or name in me(node):
        return node.host
    return name if ComputeNode.select().where(ComputeNode.host == name).exists() else node.host


def of_volume(node, vol: dict) -> str:
    return to_host(node, vol.get(HOST_ATTR) if isinstance(vol, dict) else None)


def of_connection(node, info) -> str:
    data = info.get("data") if isinstance(info, dict) else None
    return to_host(node, data.get("node") if isinstance(data, dict) else None)


def lookup(node, project_id: str, volume_id: str) -> str:
    """A volume's node, read with the service's credentials (a member's token never shows where a volume is)."""
    return of_volume(node, node.volume.get_volume(project_id, volume_id, None))


def recorded(att) -> str | None:
    """The node compute recorded for an attachment row (None: not known, e.g. a row older than this record)."""
    info = att.connection_info
    value = info.get(RECORD) if isinstance(info, dict) else None
    return parse(value)


def record(info: dict | None, host: str) -> dict:
    return {**(info or {}), RECORD: host}


def message(volume_id: str, volume_host: str, server_id: str, server_host: str) -> str:
    return (f"Volume {volume_id} lives on node {volume_host} and server {server_id} runs on node {server_host}: "
            f"this site cannot attach volumes across nodes (no iSCSI target on {volume_host}'s kernel); "
            f"migrate the server to {volume_host} or use a volume on {server_host}.")


class AcrossNodes(BuildError):
    """The last guard's refusal (connecting a volume to a server on another node): the API's 409."""


def check(volume_id: str, volume_host: str, server_id: str, server_host: str) -> None:
    """Nova's 409 when a volume and its server are on different nodes."""
    if volume_host != server_host:
        raise Conflict(message(volume_id, volume_host, server_id, server_host))


def _forced_host(zone: str | None) -> str | None:
    """The host of an admin's "zone:host[:node]" (scheduler.request.parse_zone's rule; that module imports this)."""
    rest = (zone or "").partition(":")[2]
    return rest.split(":", 1)[0] or None


def for_create(node, project_id: str, server_name: str, bdms: list, zone: str | None) -> dict[str, dict]:
    """volume id -> the record its VolumeAttachment row starts with (its node, for the scheduler), for a create's
    existing volumes; a 409 when an admin forces a host that does not hold them. Called after the user's own
    checks of those volumes (a 404 here is the service's view of one that went away since)."""
    forced = _forced_host(zone)
    out = {}
    for bdm in bdms:
        volume_id = bdm.get("uuid")
        if bdm.get("source_type") != "volume" or not isinstance(volume_id, str) or volume_id in out:
            continue
        try:
            host = lookup(node, project_id, volume_id)
        except ExternalError as exc:
            if exc.status == 404:
                raise NotFound(f"Volume {volume_id} could not be found.") from None
            raise BadRequest(str(exc)) from None
        if forced is not None:
            check(volume_id, host, server_name, forced)
        out[volume_id] = record(None, host)
    return out
