"""Nova's host filters: each keeps the nodes that can take the request; their order is the fault's story."""
from __future__ import annotations

from services.compute.drivers.specs import HostLacks
from services.compute.scheduler.request import RequestSpec
from services.compute.scheduler.state import HostState, pages_for


class Filter:
    name = "Filter"

    def passes(self, host: HostState, spec: RequestSpec) -> bool:
        raise NotImplementedError

    def describe(self, spec: RequestSpec) -> str:
        """The filter's name in the fault's record (no ':' in it: the record is 'name: (start: n, end: m)')."""
        return self.name


class ComputeFilter(Filter):
    """The node's service is up and enabled (an admin forcing zone:host may use a disabled node, as in Nova)."""
    name = "ComputeFilter"

    def passes(self, host, spec):
        return host.node.state == "up" and (not host.node.disabled or spec.force_host == host.host)


class AvailabilityZoneFilter(Filter):
    name = "AvailabilityZoneFilter"

    def passes(self, host, spec):
        return spec.zone is None or host.node.availability_zone == spec.zone


class HostFilter(Filter):
    """The admin's zone:host names one node."""
    name = "ForcedHostFilter"

    def passes(self, host, spec):
        return spec.force_host is None or host.host == spec.force_host


class VolumeLocalityFilter(Filter):
    """A server's volumes are files on one node's disk: when that node cannot export them (no iSCSI target), the
    server runs on that node. Volumes their node exports restrict nothing (a weigher prefers it: weighers.py)."""
    name = "VolumeLocalityFilter"

    def passes(self, host, spec):
        nodes = set(spec.volume_hosts.values())
        return not nodes or nodes == {host.host}

    def describe(self, spec):
        nodes = sorted(set(spec.volume_hosts.values()))
        if not nodes:
            return self.name
        where = f"node {nodes[0]}" if len(nodes) == 1 else f"nodes {' and '.join(nodes)}, one node cannot use both"
        return f"{self.name} (the server's volumes live on {where}; their storage cannot export them to other nodes)"


class RamFilter(Filter):
    name = "RamFilter"

    def passes(self, host, spec):
        return host.free_ram_mb >= spec.memory_mb


class CoreFilter(Filter):
    """Shared vCPUs against the shared CPUs times cpu_allocation_ratio (pinned servers use NUMATopologyFilter)."""
    name = "CoreFilter"

    def passes(self, host, spec):
        return spec.dedicated or host.free_vcpus >= spec.vcpus


class DiskFilter(Filter):
    """Local disk against disk_gb times disk_allocation_ratio; a node that does not know its disk (0) is not
    filtered on it."""
    name = "DiskFilter"

    def passes(self, host, spec):
        return spec.disk_gb == 0 or host.node.disk_gb == 0 or host.free_disk_gb >= spec.disk_gb


def fitting_page_size(host: HostState, spec: RequestSpec) -> int | None | bool:
    """The huge page size (KiB) the request gets on `host`; None for small pages; False when it cannot fit."""
    size = spec.page_size
    if size is None:
        return None
    sizes = sorted(int(k) for k in (host.node.hugepages or {}) if int(k) > 4)
    candidates = sizes if size in ("large", "any") else [s for s in sizes if s == size]
    for kib in candidates:
        if host.free_pages(kib) >= pages_for(spec.memory_mb, kib):
            return kib
    return None if size == "any" else False


class NUMATopologyFilter(Filter):
    """Flavor extra specs a node must have room for: dedicated CPUs free, huge pages free, NUMA nodes."""
    name = "NUMATopologyFilter"

    def passes(self, host, spec):
        if spec.dedicated:
            try:
                host.pick_cpus(spec)
            except HostLacks:
                return False
        if spec.numa_nodes > host.node.numa_nodes:
            return False
        return fitting_page_size(host, spec) is not False


# glance's property names for what a node must be (the old spellings too)
_ARCH = ("hw_architecture", "architecture")
_HV_TYPE = ("img_hv_type", "hypervisor_type")
# libvirt's domain types are hypervisor types of their own: a kvm node also runs qemu guests
_HV_RUNS = {"kvm": {"kvm", "qemu"}, "qemu": {"qemu"}}


def _prop(props: dict, names) -> str | None:
    for name in names:
        if props.get(name):
            return str(props[name]).lower()
    return None


class ImagePropertiesFilter(Filter):
    name = "ImagePropertiesFilter"

    def passes(self, host, spec):
        arch = _prop(spec.image_props, _ARCH)
        if arch and arch != host.node.arch.lower():
            return False
        hv = _prop(spec.image_props, _HV_TYPE)
        node_hv = host.node.hypervisor_type.lower()
        return not hv or hv in _HV_RUNS.get(node_hv, {node_hv})


class ServerGroupAffinityFilter(Filter):
    """affinity: once a member is placed, the others go where it is."""
    name = "ServerGroupAffinityFilter"

    def __init__(self, placed: set[str]):
        self.placed = placed

    def passes(self, host, spec):
        return spec.group_policy != "affinity" or not self.placed or host.host in self.placed


class ServerGroupAntiAffinityFilter(Filter):
    """anti-affinity: at most max_server_per_host members (default 1) on a node."""
    name = "ServerGroupAntiAffinityFilter"

    def passes(self, host, spec):
        if spec.group_policy != "anti-affinity":
            return True
        return host.group_members < int(spec.group_rules.get("max_server_per_host") or 1)


def default_filters(placed_hosts: set[str]) -> list[Filter]:
    return [HostFilter(), VolumeLocalityFilter(), ComputeFilter(), AvailabilityZoneFilter(), RamFilter(), CoreFilter(), DiskFilter(),
            NUMATopologyFilter(), ImagePropertiesFilter(), ServerGroupAntiAffinityFilter(),
            ServerGroupAffinityFilter(placed_hosts)]


def run(filters: list[Filter], hosts: list[HostState], spec: RequestSpec) -> tuple[list[HostState], list[str]]:
    """The hosts that pass every filter, and Nova's per-filter record: 'RamFilter: (start: 10, end: 3)'."""
    results = []
    for f in filters:
        start = len(hosts)
        hosts = [h for h in hosts if f.passes(h, spec)]
        results.append(f"{f.describe(spec)}: (start: {start}, end: {len(hosts)})")
        if not hosts:
            break
    return hosts, results
