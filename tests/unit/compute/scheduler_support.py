"""Nodes and servers for the scheduler tests: a node's capabilities, fake nodes registered, servers and groups."""
from __future__ import annotations

from services.compute import scheduler
from services.compute.drivers.specs import HostCaps
from services.compute.models import Instance, ServerGroup

GIB = 1024


def caps(host, cpus=8, memory_mb=8 * GIB, dedicated=(), hugepages=None, arch="x86_64", domain_type="fake",
         siblings=()):
    return HostCaps(domain_type=domain_type, domain_type_reason="fake driver", hostname=host, cpus=cpus,
                    memory_mb=memory_mb, numa_nodes=2, dedicated_cpus=list(dedicated), hugepages=hugepages or {},
                    arch=arch, disk_gb=100, thread_siblings=[list(g) for g in siblings])


def nodes(n, section=None, **kw):
    return [scheduler.register(f"n{i:02d}", caps(f"n{i:02d}", **kw), section or {}) for i in range(n)]


def server(flavor=None, group=None, zone="", **kw) -> Instance:
    flavor = {"vcpus": 1, "ram": 512, "disk": 1, "extra_specs": {}, **(flavor or {})}
    return Instance.create(name="vm", project_id="p", user_id="u", flavor=flavor, availability_zone=zone,
                           server_group_id=group.id if group else None, **kw)


def group(policy, **rules):
    return ServerGroup.create(name="g", project_id="p", user_id="u", policy=policy, rules=rules)
