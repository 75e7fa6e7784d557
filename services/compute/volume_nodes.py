"""Where a server's volumes live on a site: the node whose disk holds each one, as a compute host name.

A volume is a file on the storage box's disk. A server on that node uses the file; a server on another node can
use it only when the volume's node exports it over iSCSI (storage's pool there says `storage_protocol: iSCSI`).
Storage says which node in `os-vol-host-attr:host` (Cinder's "<node>@<backend>#<pool>", shown to compute's
service user) and in an attachment's connection_info (`data.node`). Neither is trusted blindly: a missing or
malformed value, or a name no compute node has, means the volume is this box's own, where the storage service
runs.
"""
from __future__ import annotations

import logging
import re

from appliance.cluster import membership
from appliance.errors import BadRequest, Conflict, NotFound
from services.compute.external import ExternalError, public_text
from services.compute.faults import BuildError
from services.compute.models import ComputeNode

log = logging.getLogger(__name__)

HOST_ATTR = "os-vol-host-attr:host"
# compute's own record of a volume's node in VolumeAttachment.connection_info (before and after connecting)
RECORD = "egret:node"
# ... and whether that node exports it (True: a server on any node can use it, so the scheduler need not bind)
REMOTE = "egret:remote"
ISCSI = "iSCSI"   # a pool's capabilities.storage_protocol when its node exports its volumes
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


def exporting(node, project_id: str) -> set[str]:
    """The compute hosts whose volumes storage exports over iSCSI, from its pools (read with the service's
    credentials); none when storage cannot say (down, or older than its pools): a volume then stays on its node."""
    try:
        pools = node.volume.get_pools(project_id, None)
    except (ExternalError, LookupError, TypeError, ValueError) as exc:
        log.info("storage's pools unknown, volumes are used on their own nodes only: %s", exc)
        return set()
    out = set()
    for pool in pools if isinstance(pools, list) else []:
        caps = pool.get("capabilities") if isinstance(pool, dict) else None
        if isinstance(caps, dict) and caps.get("storage_protocol") == ISCSI and parse(pool.get("name")):
            out.add(to_host(node, pool["name"]))
    return out


def exportable(node, project_id: str, host: str) -> bool:
    return host in exporting(node, project_id)


def recorded(att) -> str | None:
    """The node compute recorded for an attachment row (None: not known, e.g. a row older than this record)."""
    info = att.connection_info
    value = info.get(RECORD) if isinstance(info, dict) else None
    return parse(value)


def recorded_remote(att) -> bool | None:
    """Whether compute recorded that the row's volume's node exports it (None: not recorded)."""
    info = att.connection_info
    value = info.get(REMOTE) if isinstance(info, dict) else None
    return value if isinstance(value, bool) else None


def record(info: dict | None, host: str, remote: bool | None = None) -> dict:
    """`info` with the volume's node and, when known, whether that node exports it."""
    out = {**(info or {}), RECORD: host}
    if remote is not None:
        out[REMOTE] = remote
    return out


def kept(info) -> dict | None:
    """Only compute's own record of a row whose connection went (a move lets the old node's attachment go)."""
    if not isinstance(info, dict) or RECORD not in info:
        return None
    return {k: info[k] for k in (RECORD, REMOTE) if k in info}


def refresh(node, inst) -> None:
    """Record again whether each of the server's volumes can be exported, before the scheduler moves it: storage
    may have gained (or lost) its target since the rows were recorded, or they predate this record."""
    rows = [a for a in inst.attachments if recorded(a)]
    if not rows:
        return
    exports = exporting(node, inst.project_id)
    for att in rows:
        att.connection_info = record(att.connection_info, recorded(att), recorded(att) in exports)
        att.save()


NO_TARGET = "its storage has no iSCSI target"


def message(volume_id: str, volume_host: str, server_id: str, server_host: str, reason: str | None = None) -> str:
    """Why a server cannot use a volume on another node; `reason`: storage's own words, when it refused."""
    why = public_text(reason).rstrip(".")[:200] if reason else NO_TARGET
    return (f"Volume {volume_id} lives on node {volume_host} and server {server_id} runs on node {server_host}: "
            f"node {volume_host} cannot export volumes to other nodes ({why or NO_TARGET}); "
            f"migrate the server to {volume_host} or use a volume on {server_host}.")


class AcrossNodes(BuildError):
    """The last guard's refusal (connecting a volume to a server on another node): the API's 409."""


def check(volume_id: str, volume_host: str, server_id: str, server_host: str, exported: bool = False) -> None:
    """Nova's 409 when a volume and its server are on different nodes and the volume's node cannot export it."""
    if volume_host != server_host and not exported:
        raise Conflict(message(volume_id, volume_host, server_id, server_host))


def _forced_host(zone: str | None) -> str | None:
    """The host of an admin's "zone:host[:node]" (scheduler.request.parse_zone's rule; that module imports this)."""
    rest = (zone or "").partition(":")[2]
    return rest.split(":", 1)[0] or None


def for_create(node, project_id: str, server_name: str, bdms: list, zone: str | None) -> dict[str, dict]:
    """volume id -> the record its VolumeAttachment row starts with (its node and whether that node exports it,
    for the scheduler), for a create's existing volumes; a 409 when an admin forces a host that does not hold them
    and their node cannot export them. Called after the user's own checks of those volumes (a 404 here is the
    service's view of one that went away since)."""
    forced = _forced_host(zone)
    out, exports = {}, None
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
        exports = exporting(node, project_id) if exports is None else exports   # asked once per create
        if forced is not None:
            check(volume_id, host, server_name, forced, host in exports)
        out[volume_id] = record(None, host, host in exports)
    return out
