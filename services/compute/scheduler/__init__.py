"""Nova's scheduler over the site's compute nodes: filters, weighers and atomic claims (one module each)."""
from __future__ import annotations

import logging

from services.compute import access
from services.compute.drivers.hardware import check_extra_specs as check_on
from services.compute.drivers.specs import HostCaps, UnsupportedSpec
from services.compute.models import ComputeNode
from services.compute.scheduler.claims import (
    NoValidHost,
    claim,
    held,
    move,
    move_back,
    release,
    resize,
    settle,
)
from services.compute.scheduler.nodes import register, register_local

__all__ = ["NoValidHost", "check_extra_specs", "claim", "held", "move", "move_back", "place", "register",
           "register_local", "release", "resize", "settle"]

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


def node_caps(row: ComputeNode) -> HostCaps:
    """What a node can give a guest at most (its capacity, not what is free now)."""
    return HostCaps(domain_type=row.hypervisor_type, hostname=row.host, cpus=row.vcpus, memory_mb=row.memory_mb,
                    numa_nodes=row.numa_nodes, dedicated_cpus=list(row.dedicated_cpus or []),
                    thread_siblings=list(row.thread_siblings or []),
                    hugepages={int(k): int(v) for k, v in (row.hugepages or {}).items()}, arch=row.arch)


def check_extra_specs(node, extra_specs: dict, vcpus: int, memory_mb: int) -> None:
    """At create: refuse specs no node of the site could ever give (UnsupportedSpec, the last node's reason);
    whether one has room now is the claim's question."""
    rows = list(ComputeNode.select().order_by(ComputeNode.host))
    if not rows:
        node.driver.check_extra_specs(extra_specs, vcpus, memory_mb)
        return
    last = None
    for row in rows:
        try:
            check_on(extra_specs, vcpus, memory_mb, node_caps(row))
            return
        except UnsupportedSpec as exc:
            last = exc
    raise last


def place(node, inst, token=None):
    """Claim a node for `inst`; the local node registers itself first if start-up has not yet."""
    if not ComputeNode.select().where(ComputeNode.host == node.host).exists():
        register_local(node)
    return claim(inst, node.section, image_properties(node, inst, token))
