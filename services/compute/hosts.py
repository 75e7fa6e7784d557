"""What the admin views (os-hypervisors, os-services) report of this host: capabilities and servers on it."""
from __future__ import annotations

import dataclasses

from services.compute.drivers.specs import RUNNING, HostCaps
from services.compute.models import Instance


@dataclasses.dataclass
class HostReport:
    host: str
    address: str
    caps: HostCaps
    running_vms: int
    vcpus_used: int
    memory_mb_used: int
    busy: int       # servers with a task under way (Nova's current_workload)


def report(manager) -> HostReport:
    caps = manager.driver.host_caps()
    live = list(Instance.select().where((Instance.deleted == False) & (Instance.host == manager.host)))  # noqa: E712
    return HostReport(host=manager.host, address=manager.settings.public_host, caps=caps,
                      running_vms=len([i for i in live if i.power_state == RUNNING]),
                      vcpus_used=sum(int(i.flavor.get("vcpus", 0)) for i in live),
                      memory_mb_used=sum(int(i.flavor.get("ram", 0)) for i in live),
                      busy=len([i for i in live if i.task_state]))
