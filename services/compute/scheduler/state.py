"""A node as one scheduling decision sees it: its row plus what its allocations already hold."""
from __future__ import annotations

from dataclasses import dataclass, field

from services.compute.drivers import cputhreads
from services.compute.models import Allocation, ComputeNode


@dataclass
class HostState:
    node: ComputeNode
    vcpus_used: int = 0
    memory_mb_used: int = 0
    disk_gb_used: int = 0
    cpus_used: set = field(default_factory=set)
    pages_used: dict = field(default_factory=dict)     # page KiB -> pages held
    instances: int = 0
    group_members: int = 0                              # members of the request's server group placed here

    @property
    def host(self) -> str:
        return self.node.host

    @property
    def shared_vcpus(self) -> int:
        """The CPUs shared guests float over: the node's CPUs less the ones set aside for pinning."""
        return max(self.node.vcpus - len(self.node.dedicated_cpus or []), 0)

    @property
    def free_vcpus(self) -> float:
        return self.shared_vcpus * self.node.cpu_allocation_ratio - self.vcpus_used

    @property
    def free_ram_mb(self) -> float:
        return self.node.memory_mb * self.node.ram_allocation_ratio - self.memory_mb_used

    @property
    def free_disk_gb(self) -> float:
        return self.node.disk_gb * self.node.disk_allocation_ratio - self.disk_gb_used

    @property
    def free_cpus(self) -> list[int]:
        """Dedicated host CPUs no server holds (their ratio is always 1.0: a pinned CPU is never shared)."""
        return sorted(set(self.node.dedicated_cpus or []) - self.cpus_used)

    def pick_cpus(self, spec) -> list[int]:
        """The dedicated CPUs `spec` would hold here (cputhreads.pick); HostLacks when they are not free."""
        return cputhreads.pick(spec.thread_policy, spec.pcpus, self.node.dedicated_cpus or [],
                               self.node.thread_siblings or [], self.free_cpus)

    def free_pages(self, kib: int) -> int:
        return int((self.node.hugepages or {}).get(str(kib), 0)) - self.pages_used.get(kib, 0)

    def add(self, alloc: Allocation) -> None:
        self.instances += 1
        self.vcpus_used += alloc.vcpus
        self.memory_mb_used += alloc.memory_mb
        self.disk_gb_used += alloc.disk_gb
        self.cpus_used.update(alloc.cpus or [])
        if alloc.page_kib:
            self.pages_used[alloc.page_kib] = self.pages_used.get(alloc.page_kib, 0) + pages_for(
                alloc.memory_mb, alloc.page_kib)


def pages_for(memory_mb: int, kib: int) -> int:
    return -(-memory_mb * 1024 // kib)


def load(nodes: list[ComputeNode], group_hosts: list[str] | None = None, without: str | None = None
         ) -> list[HostState]:
    """Every node with its usage summed from the allocations (a site has few nodes and few hundred servers);
    `without`: leave that server's own claim out (a resize asks for room in place of it)."""
    states = {n.host: HostState(n) for n in nodes}
    for alloc in Allocation.select():
        if alloc.host in states and alloc.instance_id != without:
            states[alloc.host].add(alloc)
    for host in group_hosts or []:
        if host in states:
            states[host].group_members += 1
    return list(states.values())


def usage(host: str) -> HostState | None:
    node = ComputeNode.get_or_none(ComputeNode.host == host)
    if node is None:
        return None
    state = HostState(node)
    for alloc in Allocation.select().where(Allocation.host == host):
        state.add(alloc)
    return state
