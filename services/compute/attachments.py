"""Volume and interface attachments as the API asks for them: state and lock checks, lookups, error mapping."""
from __future__ import annotations

from appliance.errors import ApiError, BadRequest, Conflict, NotFound
from services.compute import volume_iscsi, volume_nodes
from services.compute.external import ExternalError
from services.compute.models import Instance, VolumeAttachment

VOLUME_ATTACHABLE = ("active", "stopped", "paused", "suspended", "resized")
INTERFACE_ATTACHABLE = ("active", "stopped", "paused")


def _api_error(exc: ExternalError) -> ApiError:
    """Another service's refusal as Nova reports it: not found stays 404, anything else is the request's fault."""
    if exc.status == 404:
        return NotFound(str(exc))
    return BadRequest(str(exc))


def volumes(inst: Instance) -> list[VolumeAttachment]:
    """The attachments the API shows: those made through volume's attachments API, and the boot volume."""
    rows = VolumeAttachment.select().where(VolumeAttachment.instance == inst.id)
    return [a for a in rows if a.attachment_id or a.boot_index == 0]


def find_volume(inst: Instance, volume_id: str) -> VolumeAttachment:
    att = VolumeAttachment.get_or_none((VolumeAttachment.instance == inst.id) &
                                       (VolumeAttachment.volume_id == volume_id))
    if att is None:
        raise NotFound(f"Volume {volume_id} is not attached to the server {inst.id}.")
    return att


def attach_volume(manager, inst: Instance, volume_id: str, token: str, admin: bool,
                  delete_on_termination: bool = False, tag: str | None = None) -> VolumeAttachment:
    manager.check_lock(inst, admin)
    if inst.vm_state not in VOLUME_ATTACHABLE or inst.task_state:
        raise Conflict(f"Cannot 'attach_volume' instance {inst.id} while it is in vm_state {inst.vm_state}")
    if VolumeAttachment.get_or_none((VolumeAttachment.instance == inst.id) &
                                    (VolumeAttachment.volume_id == volume_id)):
        raise BadRequest(f"Invalid volume: volume {volume_id} is already attached to this server.")
    try:
        manager.volume.get_volume(inst.project_id, volume_id, token)
        # where it lives, as the service sees it (a member's view has no host): checked before storage reserves it
        where = volume_nodes.lookup(manager.node, inst.project_id, volume_id)
    except ExternalError as exc:
        if exc.status == 404:
            raise NotFound(f"Volume {volume_id} could not be found.") from None
        raise _api_error(exc) from None
    server_host = inst.host or manager.node.host
    exported = where != server_host and volume_nodes.exportable(manager.node, inst.project_id, where)
    volume_nodes.check(volume_id, where, inst.id, server_host, exported)
    try:
        return manager.attach_volume(inst, volume_id, token, delete_on_termination, tag)
    except ExternalError as exc:
        raise _api_error(exc) from None
    except volume_nodes.AcrossNodes as exc:   # storage refused to export it, or moved it since the check
        raise Conflict(str(exc)) from None
    except volume_iscsi.BadConnection as exc:   # storage's fault, not the request's: said plainly
        raise ApiError(str(exc), status=500) from None


def detach_volume(manager, inst: Instance, volume_id: str, token: str, admin: bool) -> None:
    manager.check_lock(inst, admin)
    att = find_volume(inst, volume_id)
    if att.boot_index == 0:
        raise BadRequest("Cannot detach a root device volume.")
    manager.detach_volume(inst, att, token)


def interface(inst: Instance, port_id: str) -> dict:
    for p in inst.ports or []:
        if p["port_id"] == port_id:
            return p
    raise NotFound(f"Port {port_id} is not attached")


def attach_interface(manager, inst: Instance, net_id: str | None, port_id: str | None, token: str,
                     admin: bool) -> dict:
    manager.check_lock(inst, admin)
    if inst.vm_state not in INTERFACE_ATTACHABLE or inst.task_state:
        raise Conflict(f"Cannot 'attach_interface' instance {inst.id} while it is in vm_state {inst.vm_state}")
    if net_id and port_id:
        raise BadRequest("Must not input both network_id and port_id")
    if not net_id and not port_id:
        raise BadRequest("Must input network_id or port_id")
    try:
        return manager.attach_interface(inst, net_id, port_id, token)
    except ExternalError as exc:
        raise _api_error(exc) from None


def detach_interface(manager, inst: Instance, port_id: str, token: str, admin: bool) -> None:
    manager.check_lock(inst, admin)
    manager.detach_interface(inst, port_id, token)
