"""What a server asks of a node: resources, extra specs, image properties, zone, forced host, server group."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from services.compute import volume_nodes
from services.compute.drivers import cputhreads
from services.compute.drivers.hardware import dedicated_count, parse_page_size
from services.compute.drivers.specs import UnsupportedSpec
from services.compute.models import ComputeNode, VolumeAttachment


@dataclass
class RequestSpec:
    instance_id: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    extra_specs: dict = field(default_factory=dict)
    image_props: dict = field(default_factory=dict)
    zone: str | None = None          # None: any zone
    force_host: str | None = None    # the admin's zone:host
    group_id: str | None = None
    group_policy: str | None = None
    group_rules: dict = field(default_factory=dict)
    volume_hosts: dict = field(default_factory=dict)   # volume id -> the node that holds it and cannot export it
    volume_homes: dict = field(default_factory=dict)   # volume id -> the node that holds it and exports it

    @property
    def dedicated(self) -> bool:
        return self.extra_specs.get("hw:cpu_policy") in ("dedicated", "mixed")

    @property
    def pcpus(self) -> int:
        """Dedicated host CPUs the server holds (its vCPUs, plus one for isolated emulator threads)."""
        return dedicated_count(self.extra_specs, self.vcpus)

    @property
    def thread_policy(self) -> str:
        return thread_policy(self.extra_specs)

    @property
    def page_size(self) -> int | str | None:
        """hw:mem_page_size as KiB, 'large' or 'any'; None when the guest uses small pages."""
        if "hw:mem_page_size" not in self.extra_specs:
            return None
        try:
            size = parse_page_size(self.extra_specs["hw:mem_page_size"])
        except UnsupportedSpec:
            return None     # the flavor API refuses it already; the driver says why if it slipped through
        return None if size in ("small", 4) else size

    @property
    def numa_nodes(self) -> int:
        try:
            return int(self.extra_specs.get("hw:numa_nodes", 1))
        except (TypeError, ValueError):
            return 1


def thread_policy(extra_specs: dict) -> str:
    try:
        return cputhreads.policy(extra_specs)
    except UnsupportedSpec:
        return "prefer"     # the flavor API refuses it already; the driver says why if it slipped through


def parse_zone(value: str | None) -> tuple[str | None, str | None]:
    """Nova's availability_zone forms: 'zone', 'zone:host', 'zone:host:node', ':host' -> (zone, host)."""
    if not value:
        return None, None
    zone, _, rest = value.partition(":")
    host = rest.split(":", 1)[0] if rest else None
    return zone or None, host or None


def from_instance(inst, image_props: dict | None = None, group=None, flavor: dict | None = None) -> RequestSpec:
    """What `inst` asks for (with `flavor` instead of its own: a resize)."""
    flavor = flavor if flavor is not None else (inst.flavor or {})
    root = 0 if inst.boot_from_volume else int(flavor.get("disk") or 0)
    disk = root + int(flavor.get("ephemeral") or 0) + math.ceil(int(flavor.get("swap") or 0) / 1024)
    zone, host = parse_zone(inst.availability_zone)
    bound, homes = volume_nodes_of(inst.id)
    return RequestSpec(
        instance_id=inst.id, vcpus=int(flavor.get("vcpus") or 0), memory_mb=int(flavor.get("ram") or 0),
        disk_gb=disk, extra_specs=dict(flavor.get("extra_specs") or {}), image_props=dict(image_props or {}),
        zone=zone, force_host=host, group_id=group.id if group else None,
        group_policy=group.policy if group else None, group_rules=dict(group.rules or {}) if group else {},
        volume_hosts=bound, volume_homes=homes)


def volume_nodes_of(instance_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """volume id -> node for the server's volumes whose node compute recorded (volume_nodes.to_host, a compute
    host) and that is still a node of the site (a removed node's name restricts nothing: connecting says why):
    those their node cannot export (the server must run there), and those it exports (the server may run
    anywhere, and goes there when it can)."""
    rows = list(VolumeAttachment.select().where(VolumeAttachment.instance == instance_id))
    found = {a.volume_id: (volume_nodes.recorded(a), volume_nodes.recorded_remote(a) is True) for a in rows
             if volume_nodes.recorded(a)}
    if not found:
        return {}, {}
    hosts = {host for host, _ in found.values()}
    known = {n.host for n in ComputeNode.select(ComputeNode.host).where(ComputeNode.host.in_(hosts))}
    bound = {vid: host for vid, (host, exported) in found.items() if host in known and not exported}
    homes = {vid: host for vid, (host, exported) in found.items() if host in known and exported}
    return bound, homes
