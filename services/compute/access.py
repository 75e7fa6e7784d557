"""What a server may use: ownership checks made before compute acts on a port, network, image or volume itself.

Compute binds ports, downloads images and attaches volumes with its own service credentials (a user may not
set `binding:host_id`, and the user's token may expire before a long build or a delete finishes). Those
credentials can reach every project's resources, so each use is preceded by a check that the server's user may
use the resource: the resource is fetched with the user's token (the owning service decides, as it does for
any request of that user), or, when there is no live user token (a build that outlived it, reconcile), with the
service token and compared with the server's project. A refusal says "could not be found", as the owning
service would, so that nobody learns another project's IDs exist.
"""
from __future__ import annotations

from appliance.errors import ApiError, Conflict, Forbidden, NotFound
from services.compute.external import ExternalError

PUBLIC_IMAGES = ("public", "community")


class AccessDenied(Exception):
    """The server's user may not use this resource (or it does not exist); `status` is 404 or 403."""

    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.status = status


def api_error(exc: AccessDenied) -> ApiError:
    """The refusal in the compute API's own error format, for the synchronous actions (attach volume/interface)."""
    kind = {403: Forbidden, 409: Conflict}.get(exc.status, NotFound)
    return kind(str(exc))


def as_user(call, token):
    """call(token) with the user's token; None if there is none or it was refused as expired (401)."""
    if not token:
        return None
    try:
        return call(token)
    except ExternalError as exc:
        if exc.status == 401:
            return None
        if exc.status in (403, 404):
            raise AccessDenied(str(exc), 404 if exc.status == 404 else 403) from None
        raise


def _service_get(call, what: str):
    try:
        return call(None)
    except ExternalError as exc:
        if exc.status == 404:
            raise AccessDenied(f"{what} could not be found.") from None
        raise


def port(network, port_id: str, inst, token) -> dict:
    found = as_user(lambda t: network.get_port(port_id, t), token)
    if found is None:
        found = _service_get(lambda t: network.get_port(port_id, t), f"Port {port_id}")
        if found.get("project_id") != inst.project_id:
            raise AccessDenied(f"Port {port_id} could not be found.")
    if found.get("device_id") not in ("", None, inst.id):
        raise AccessDenied(f"Port {port_id} is still in use.", 409)
    return found


def network(net_client, network_id: str, inst, token) -> dict:
    found = as_user(lambda t: net_client.get_network(network_id, t), token)
    if found is None:
        found = _service_get(lambda t: net_client.get_network(network_id, t), f"Network {network_id}")
        if found.get("project_id") != inst.project_id and not found.get("shared"):
            raise AccessDenied(f"Network {network_id} could not be found.")
    return found


def image(images, image_id: str, inst, token) -> dict:
    found = as_user(lambda t: images.get_image(image_id, t), token)
    if found is None:
        found = _service_get(lambda t: images.get_image(image_id, t), f"Image {image_id}")
        if not _image_visible(images, found, inst.project_id):
            raise AccessDenied(f"Image {image_id} could not be found.")
    return found


def _image_visible(images, meta: dict, project_id: str) -> bool:
    """The image service's own rule (storage/images.py _visible) for a project that is not admin."""
    if meta.get("owner") == project_id or meta.get("visibility") in PUBLIC_IMAGES:
        return True
    if meta.get("visibility") == "shared":
        return any(m.get("member_id") == project_id for m in images.list_members(meta["id"], None))
    return False


def volume(volumes, volume_id: str, inst, token) -> dict:
    found = as_user(lambda t: volumes.get_volume(inst.project_id, volume_id, t), token)
    if found is None:
        found = _service_get(lambda t: volumes.get_volume(inst.project_id, volume_id, t), f"Volume {volume_id}")
    # a server uses its own project's volumes only, whoever asks (an admin's token sees every project's)
    if _volume_project(found) != inst.project_id:
        raise AccessDenied(f"Volume {volume_id} could not be found.")
    return found


def _volume_project(vol: dict) -> str | None:
    return vol.get("os-vol-tenant-attr:tenant_id") or vol.get("project_id")


def security_groups(net_client, name: str, inst, token) -> list[dict]:
    found = as_user(lambda t: net_client.list_security_groups(t, name=name), token)
    if found is None:
        found = net_client.list_security_groups(None, name=name, project_id=inst.project_id)
    return found
