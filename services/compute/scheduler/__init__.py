"""Nova's scheduler over the site's compute nodes: filters, weighers and atomic claims (one module each)."""
from __future__ import annotations

import logging

from services.compute import access
from services.compute.models import ComputeNode
from services.compute.scheduler.claims import NoValidHost, claim, cpuset, release
from services.compute.scheduler.nodes import register, register_local

__all__ = ["NoValidHost", "claim", "cpuset", "place", "register", "register_local", "release"]

log = logging.getLogger(__name__)


def image_properties(node, inst, token) -> dict:
    """The image's properties for ImagePropertiesFilter; an image the user cannot use fails the build later,
    at its own step, with its own message."""
    if not inst.image_ref:
        return {}
    try:
        return access.image(node.image, inst.image_ref, inst, token)
    except Exception as exc:  # noqa: BLE001 - the image step reports it
        log.info("scheduling %s without image properties: %s", inst.id, exc)
        return {}


def place(node, inst, token=None):
    """Claim a node for `inst`; the local node registers itself first if start-up has not yet."""
    if not ComputeNode.select().where(ComputeNode.host == node.host).exists():
        register_local(node)
    return claim(inst, node.section, image_properties(node, inst, token))
