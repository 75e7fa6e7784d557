"""Compute nodes as rows: a node registers (and refreshes) itself from its driver's host capabilities."""
from __future__ import annotations

import uuid

import peewee

from appliance.db import utcnow
from services.compute.drivers.hardware import dedicated_count
from services.compute.drivers.specs import HostCaps
from services.compute.models import Allocation, ComputeNode, Instance, database

# Nova's initial allocation ratios (a dedicated CPU is never shared: its ratio is 1.0 and not configurable)
DEFAULT_RATIOS = {"cpu_allocation_ratio": 16.0, "ram_allocation_ratio": 1.5, "disk_allocation_ratio": 1.0}


def node_id(host: str) -> str:
    """The node's (hypervisor's) id: derived from its name, so every API process agrees without asking."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, host))


def disk_gb(section, caps: HostCaps) -> int:
    """[compute] disk_gb, else the size of the file system the node's instances live on (its driver knows)."""
    if section.get("disk_gb") is not None:
        return int(section["disk_gb"])
    return caps.disk_gb


def register(host: str, caps: HostCaps, section, *, address: str = "", disk: int = 0,
             up: bool = True) -> ComputeNode:
    """Create or refresh `host`'s row; an admin's disable (and its reason) survives the refresh. `up`: the node
    (re)starts, so its state is up; False for a capacity refresh of a running node, which keeps its state."""
    try:
        return _register(host, caps, section, address, disk or caps.disk_gb, up)
    except peewee.IntegrityError:
        # another API process (a gunicorn worker) created the row first: refresh it instead
        return _register(host, caps, section, address, disk or caps.disk_gb, up)


def _register(host: str, caps: HostCaps, section, address: str, disk: int, up: bool) -> ComputeNode:
    section = {**section, **(caps.placement or {})}   # the node's own zone and ratios win (HostCaps.placement)
    with database.atomic():
        held = [a for a in Allocation.select().where(Allocation.host == host) if a.page_kib]
        pages = {}
        # the driver reports free huge pages: the ones our servers already hold are the node's too
        for kib, free in (caps.hugepages or {}).items():
            used = sum(-(-a.memory_mb * 1024 // a.page_kib) for a in held if a.page_kib == int(kib))
            pages[str(int(kib))] = int(free) + used
        fields = dict(
            address=address, availability_zone=str(section.get("availability_zone") or "nova"),
            hypervisor_type=caps.domain_type, hypervisor_version=caps.hypervisor_version, arch=caps.arch,
            vcpus=caps.cpus, memory_mb=caps.memory_mb, disk_gb=disk, numa_nodes=caps.numa_nodes,
            dedicated_cpus=sorted(int(c) for c in caps.dedicated_cpus), hugepages=pages,
            thread_siblings=[sorted(int(c) for c in g) for g in caps.thread_siblings or []],
            info={"domain_type_reason": caps.domain_type_reason},
            **{k: float(section.get(k, v)) for k, v in DEFAULT_RATIOS.items()})
        node = ComputeNode.get_or_none(ComputeNode.host == host)
        if up or node is None:
            fields["state"] = "down" if node is not None and node.forced_down else "up"
        if node is None:
            node = ComputeNode.create(id=node_id(host), host=host, **fields)
        else:
            for key, value in fields.items():
                setattr(node, key, value)
            node.save()
        _adopt_unclaimed(node)
    return node


def _adopt_unclaimed(node: ComputeNode) -> None:
    """Servers built before the scheduler existed hold what they run on: give them their claims."""
    claimed = Allocation.select(Allocation.instance_id)
    live = Instance.select().where((Instance.host == node.host) & (Instance.deleted == False)
                                   & Instance.id.not_in(claimed))
    for inst in live:
        flavor = inst.flavor or {}
        vcpus = int(flavor.get("vcpus") or 0)
        specs = flavor.get("extra_specs") or {}
        dedicated = specs.get("hw:cpu_policy") in ("dedicated", "mixed")
        Allocation.create(instance_id=inst.id, host=node.host, vcpus=0 if dedicated else vcpus,
                          memory_mb=int(flavor.get("ram") or 0), disk_gb=int(flavor.get("disk") or 0),
                          # what hardware.py pinned them to before claims picked CPUs
                          cpus=list(node.dedicated_cpus[:dedicated_count(specs, vcpus)]) if dedicated else [])


def set_state(host: str, state: str) -> None:
    """up | down: what the site's heartbeats say of a node; a forced-down node stays down."""
    query = ComputeNode.update(state=state, updated_at=utcnow()).where(ComputeNode.host == host)
    if state == "up":
        query = query.where(ComputeNode.forced_down == False)  # noqa: E712 (peewee builds SQL from ==)
    query.execute()


def force_down(host: str, forced: bool) -> None:
    """An admin's force-down (the node is down now and stays so) or its lift (up: the heartbeats take over again;
    on a site, the node registry marks a node that is in fact offline down at its next change)."""
    ComputeNode.update(forced_down=forced, state="down" if forced else "up",
                       updated_at=utcnow()).where(ComputeNode.host == host).execute()


def host_status(host: str) -> str:
    """Nova's server host_status (2.16): "" without a host, UNKNOWN without a node row, DOWN when the site (or an
    admin's force-down) says so, MAINTENANCE when disabled, else UP."""
    if not host:
        return ""
    node = ComputeNode.get_or_none(ComputeNode.host == host)
    if node is None:
        return "UNKNOWN"
    if node.state == "down":
        return "DOWN"
    return "MAINTENANCE" if node.disabled else "UP"


def set_disabled(node: ComputeNode, disabled: bool, reason: str | None) -> ComputeNode:
    node.disabled, node.disabled_reason = disabled, (reason if disabled else None)
    node.save()
    return node


def register_local(node, caps: HostCaps | None = None, up: bool = True) -> ComputeNode:
    """This box's own node (the service's start-up; a build registers it if start-up has not yet; the capacity
    refresh with the caps it read again)."""
    caps = caps or node.driver.host_caps()
    return register(node.host, caps, node.section, address=node.settings.public_host,
                    disk=disk_gb(node.section, caps), up=up)
