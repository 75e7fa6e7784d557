"""Atomic claims: pick a node and record the server's Allocation in one transaction that serialises claims."""
from __future__ import annotations

import logging

from appliance.db import engine
from services.compute.faults import BuildError
from services.compute.models import (
    Allocation,
    ComputeNode,
    Instance,
    ServerGroup,
    database,
)
from services.compute.scheduler import filters, request, state, weighers

log = logging.getLogger(__name__)


class NoValidHost(BuildError):
    """Nova's words; the per-filter record goes in the fault's details (and the message, as room allows)."""

    def __init__(self, results: list[str], why: str = ""):
        self.results = results
        text = "No valid host was found. " + (why or "There are not enough hosts available.")
        # the server's user reads which filters removed the nodes; how many nodes there are is for admins (details)
        removed = [r.split(":", 1)[0] for r in results if not r.endswith(_kept(r))]
        super().__init__(text + (f" Filters that removed hosts: {', '.join(removed)}." if removed else ""))
        self.details = text + (f" Filter results: {results}" if results else "")


def _kept(result: str) -> str:
    """'RamFilter: (start: 3, end: 3)' -> 'end: 3)': the suffix a filter that removed nothing ends with."""
    start = result.split("(start: ", 1)[1].split(",", 1)[0]
    return f"end: {start})"


def _lock_nodes():
    """The nodes, locked for this transaction: SQLite's BEGIN IMMEDIATE holds the write lock already,
    PostgreSQL takes row locks on every node row, so two claims never read the same free capacity."""
    query = ComputeNode.select().order_by(ComputeNode.host)
    if engine(database.obj) == "postgresql":
        query = query.for_update()
    return list(query)


def _group_hosts(spec: request.RequestSpec) -> list[str]:
    """One entry per other member of the request's group with a claim (their claims commit before ours runs)."""
    if not spec.group_id:
        return []
    rows = (Allocation.select(Allocation.host)
            .join(Instance, on=(Allocation.instance_id == Instance.id))
            .where((Instance.server_group_id == spec.group_id) & (Instance.deleted == False)
                   & (Instance.id != spec.instance_id)))
    return [r.host for r in rows]


def select(hosts: list[state.HostState], spec: request.RequestSpec, section) -> state.HostState:
    placed = {h.host for h in hosts if h.group_members}
    passing, results = filters.run(filters.default_filters(placed), hosts, spec)
    if not passing:
        raise NoValidHost(results)
    return weighers.best(passing, section, spec)


def _pick_cpus(host: state.HostState, spec: request.RequestSpec) -> list[int]:
    return host.pick_cpus(spec) if spec.dedicated else []


def claim(inst, section, image_props: dict | None = None) -> Allocation:
    """Place `inst` and hold its resources; idempotent (a resumed build keeps its claim). Sets inst.host."""
    existing = Allocation.get_or_none(Allocation.instance_id == inst.id)
    if existing is not None:
        inst.host = existing.host
        return existing
    group = ServerGroup.get_or_none(ServerGroup.id == inst.server_group_id) if inst.server_group_id else None
    spec = request.from_instance(inst, image_props, group)
    with database.atomic():
        nodes = _lock_nodes()
        # claims of deleted servers whose teardown never ran (a crash) hold nothing
        Allocation.delete().where(Allocation.instance_id.in_(
            Instance.select(Instance.id).where(Instance.deleted == True))).execute()
        hosts = state.load(nodes, _group_hosts(spec))
        chosen = select(hosts, spec, section)
        page = filters.fitting_page_size(chosen, spec)
        alloc = Allocation.create(
            instance_id=inst.id, host=chosen.host, vcpus=0 if spec.dedicated else spec.vcpus,
            memory_mb=spec.memory_mb, disk_gb=spec.disk_gb, cpus=_pick_cpus(chosen, spec),
            page_kib=page or None)
        zone = chosen.node.availability_zone
        Instance.update(host=chosen.host, availability_zone=zone).where(Instance.id == inst.id).execute()
    inst.host, inst.availability_zone = chosen.host, zone
    log.info("server %s scheduled to %s", inst.id, chosen.host)
    return alloc


def move(inst, section, image_props: dict | None = None, *, host: str | None = None, force: bool = False,
         keep_source: str | None = None) -> Allocation:
    """Claim a node other than the server's own (an evacuation, a cold migration) in the serialising transaction,
    and let go of the source's claim in the same one: released (keep_source None: an evacuated node is down), or
    kept under the id keep_source (a migration's) until the move is confirmed or reverted, as Nova's migration
    allocations are. `host`: the admin's target; `force`: only that it exists and is up (Nova's force=True).
    NoValidHost (nothing changed) when no other node can take it. Sets inst.host to the target."""
    group = ServerGroup.get_or_none(ServerGroup.id == inst.server_group_id) if inst.server_group_id else None
    spec = request.from_instance(inst, image_props, group)
    spec.force_host = host
    source = inst.host
    with database.atomic():
        nodes = _lock_nodes()
        hosts = [h for h in state.load(nodes, _group_hosts(spec), without=inst.id) if h.host != source]
        if force:
            # forced: the node need only exist and be up, and hold the server's volumes (files on its disk)
            forced = [filters.HostFilter(), filters.VolumeLocalityFilter(), filters.ComputeFilter()]
            passing, results = filters.run(forced, hosts, spec)
            if not passing:
                raise NoValidHost(results)
            chosen = passing[0]
        else:
            chosen = select(hosts, spec, section)
        page = filters.fitting_page_size(chosen, spec)
        held = Allocation.get_or_none(Allocation.instance_id == inst.id)
        if held is not None and keep_source:
            held.instance_id = keep_source
            held.save()
        elif held is not None:
            held.delete_instance()
        alloc = Allocation.create(
            instance_id=inst.id, host=chosen.host, vcpus=0 if spec.dedicated else spec.vcpus,
            memory_mb=spec.memory_mb, disk_gb=spec.disk_gb, cpus=_pick_cpus(chosen, spec), page_kib=page or None)
        Instance.update(host=chosen.host).where(Instance.id == inst.id).execute()
    inst.host = chosen.host
    log.info("server %s moves from %s to %s", inst.id, source, chosen.host)
    return alloc


def move_back(instance_id: str, kept: str) -> None:
    """A reverted migration: the target's claim goes, the source's (kept under `kept`) is the server's again."""
    with database.atomic():
        _lock_nodes()
        Allocation.delete().where(Allocation.instance_id == instance_id).execute()
        Allocation.update(instance_id=instance_id).where(Allocation.instance_id == kept).execute()


# what a resize in place asks of the server's own node (zones, groups and images stay as they were)
_RESIZE_FILTERS = (filters.RamFilter, filters.CoreFilter, filters.DiskFilter, filters.NUMATopologyFilter)


def resize(inst, flavor: dict) -> Allocation | None:
    """Hold `flavor` as well as the server's current flavor on its node (a resize in place) until the resize is
    confirmed or reverted (settle), so that a revert always fits: of each resource the larger of the two, which
    fits whenever `flavor` alone does, as the old one is held already. In the same serialising transaction as
    claims; NoValidHost (nothing changed) when the node has no room for it."""
    with database.atomic():
        nodes = _lock_nodes()
        alloc = Allocation.get_or_none(Allocation.instance_id == inst.id)
        if alloc is None:
            return None
        node = [n for n in nodes if n.host == alloc.host]
        hosts = state.load(node, without=inst.id)
        spec = request.from_instance(inst, flavor=flavor)
        passing, results = filters.run([f() for f in _RESIZE_FILTERS], hosts, spec)
        if not passing:
            raise NoValidHost(results, "There is not enough room on the server's node for the new flavor.")
        host = passing[0]
        held_specs = (inst.flavor or {}).get("extra_specs") or {}
        if alloc.resize_cpus or {request.thread_policy(held_specs), spec.thread_policy} & {"isolate", "require"}:
            alloc.cpus, alloc.resize_cpus = _both_flavors_cpus(alloc, inst, flavor, host, spec)
        else:
            # a pinned server keeps the CPUs it has and adds free ones (its vCPU i stays on the same host CPU)
            kept = [c for c in (alloc.cpus or []) if c in host.free_cpus][:spec.pcpus] if spec.dedicated else []
            extra = [c for c in host.free_cpus if c not in kept][:spec.pcpus - len(kept)] if spec.dedicated else []
            # the old CPUs come first in the new list (kept), so each flavor's CPUs are a prefix of the longer list
            old_cpus = list(alloc.cpus or [])
            alloc.cpus = kept + extra if len(kept + extra) >= len(old_cpus) else old_cpus
        page = filters.fitting_page_size(host, spec)
        alloc.vcpus = max(alloc.vcpus, 0 if spec.dedicated else spec.vcpus)
        alloc.memory_mb, alloc.disk_gb = max(alloc.memory_mb, spec.memory_mb), max(alloc.disk_gb, spec.disk_gb)
        alloc.page_kib = page or alloc.page_kib or None
        alloc.save()
    return alloc


def _both_flavors_cpus(alloc, inst, flavor: dict, host: state.HostState, spec) -> tuple[list[int], dict]:
    """A thread policy takes CPUs core by core, so one flavor's CPUs are not a prefix of the other's: the claim
    holds both sets (flavor id -> CPUs), the asked flavor's first (the guest runs on them). A revert asks again for
    the flavor it goes back to, which gets the CPUs it had."""
    by_flavor = dict(alloc.resize_cpus or {str(inst.flavor["id"]): list(alloc.cpus or [])})
    if str(flavor["id"]) not in by_flavor:
        # the node's free CPUs here include the server's own (state.load without it)
        by_flavor[str(flavor["id"])] = host.pick_cpus(spec) if spec.dedicated else []
    first = by_flavor[str(flavor["id"])]
    rest = [c for cpus in by_flavor.values() for c in cpus if c not in first]
    return first + list(dict.fromkeys(rest)), by_flavor


def settle(inst, flavor: dict) -> None:
    """A resize in place is confirmed (`flavor`: the new one) or reverted (the old one): the server's claim holds
    that flavor alone again, its pinned CPUs that flavor's (see resize)."""
    spec = request.from_instance(inst, flavor=flavor)
    with database.atomic():
        _lock_nodes()
        alloc = Allocation.get_or_none(Allocation.instance_id == inst.id)
        if alloc is None:
            return
        alloc.vcpus = 0 if spec.dedicated else spec.vcpus
        alloc.memory_mb, alloc.disk_gb = spec.memory_mb, spec.disk_gb
        if alloc.resize_cpus and str(flavor["id"]) in alloc.resize_cpus:
            alloc.cpus = alloc.resize_cpus[str(flavor["id"])]
        else:
            alloc.cpus = list(alloc.cpus or [])[:spec.pcpus] if spec.dedicated else []
        alloc.resize_cpus = None
        alloc.page_kib = alloc.page_kib if spec.page_size is not None else None
        alloc.save()


def release(instance_id: str) -> None:
    """Give back what a server held (its teardown: a failed build, a delete)."""
    Allocation.delete().where(Allocation.instance_id == instance_id).execute()


def held(instance_id: str) -> dict:
    """What the server's claim pins for its guest, as GuestSpec fields: the dedicated host CPUs (cpuset, None for
    a shared-CPU server) and the huge-page size its memory was counted in (page_kib, None for small pages)."""
    alloc = Allocation.get_or_none(Allocation.instance_id == instance_id)
    if alloc is None:
        return {"cpuset": None, "page_kib": None}
    return {"cpuset": list(alloc.cpus) if alloc.cpus else None, "page_kib": alloc.page_kib or None}
