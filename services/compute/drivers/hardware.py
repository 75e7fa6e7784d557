"""The hardware planner: flavor extra specs checked against the host's capabilities, and what the guest gets."""
from __future__ import annotations

from services.compute.drivers import cputhreads
from services.compute.drivers.specs import HostCaps, HostLacks, UnsupportedSpec


def _parse_page_size(value: str) -> int | str:
    """hw:mem_page_size: small | large | any | <n>[KB|MB|GB] (KiB by default) -> KiB or the keyword."""
    text = str(value).strip().lower()
    if text in ("small", "large", "any"):
        return text
    units = {"kb": 1, "k": 1, "kib": 1, "mb": 1024, "m": 1024, "mib": 1024, "gb": 1 << 20, "g": 1 << 20,
             "gib": 1 << 20}
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix) and text[:-len(suffix)].isdigit():
            return int(text[:-len(suffix)]) * units[suffix]
    if text.isdigit():
        return int(text)
    raise UnsupportedSpec(f"Invalid hw:mem_page_size {value!r}: use small, large, any or a size such as 2MB.")


def _parse_mask(mask: str, vcpus: int) -> set[int]:
    """hw:cpu_realtime_mask like '^0' or '0-1,^1': the vCPUs that are real-time."""
    include, exclude = set(), set()
    for part in str(mask).split(","):
        part = part.strip()
        if not part:
            continue
        neg = part.startswith("^")
        part = part.lstrip("^")
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                ids = set(range(lo, hi + 1))
            else:
                ids = {int(part)}
        except ValueError:
            raise UnsupportedSpec(f"Invalid hw:cpu_realtime_mask {mask!r}.") from None
        (exclude if neg else include).update(ids)
    base = include or set(range(vcpus))
    rt = {v for v in base - exclude if v < vcpus}
    if not rt:
        raise UnsupportedSpec(f"hw:cpu_realtime_mask {mask!r} leaves no real-time vCPU.")
    if rt == set(range(vcpus)):
        raise UnsupportedSpec("hw:cpu_realtime_mask must leave at least one vCPU for housekeeping (e.g. '^0').")
    return rt


def _true(value) -> bool:
    return str(value).strip().lower() in ("true", "yes", "1", "on")


parse_page_size = _parse_page_size


def emulator_policy(specs: dict) -> str | None:
    """hw:emulator_threads_policy: share | isolate (an extra dedicated host CPU for QEMU's own threads)."""
    policy = specs.get("hw:emulator_threads_policy")
    if policy is not None and policy not in ("share", "isolate"):
        raise UnsupportedSpec(f"Invalid hw:emulator_threads_policy {policy!r}: use share or isolate.")
    if policy is not None and specs.get("hw:cpu_policy", "shared") != "dedicated":
        raise UnsupportedSpec("hw:emulator_threads_policy requires hw:cpu_policy=dedicated.")
    return policy


def dedicated_count(specs: dict, vcpus: int) -> int:
    """The host CPUs a guest holds for itself: one per vCPU, and one more for isolated emulator threads."""
    if specs.get("hw:cpu_policy", "shared") not in ("dedicated", "mixed"):
        return 0
    return vcpus + (1 if specs.get("hw:emulator_threads_policy") == "isolate" else 0)


def _pins(count: int, host: HostCaps, cpuset: list[int] | None, thread_policy: str) -> list[int]:
    """The host CPUs a pinned guest holds: the claim's when the scheduler picked them, else the first dedicated
    ones its thread policy allows (HostLacks when it allows none)."""
    if cpuset is None:
        return cputhreads.pick(thread_policy, count, host.dedicated_cpus, host.thread_siblings,
                               host.dedicated_cpus)[:count]
    cpus = [int(c) for c in cpuset]
    if len(cpus) < count or len(set(cpus)) != len(cpus):
        raise UnsupportedSpec(f"The claim holds host CPUs {cpus} for {count} pinned CPUs.")
    outside = sorted(set(cpus) - {int(c) for c in host.dedicated_cpus})
    if outside:
        raise HostLacks(f"Host CPUs {outside} are not in this host's cpu_dedicated_set.")
    return cpus[:count]


def _emulator_cpus(policy: str | None, held: list[int], vcpus: int, rt_vcpus, host: HostCaps) -> list[int]:
    """Where QEMU's emulator threads run: never on a real-time vCPU's CPU (Nova's rules)."""
    if policy == "isolate":
        return held[vcpus:]                         # the extra CPU the claim holds for them
    if policy == "share":
        shared = sorted(set(range(host.cpus)) - {int(c) for c in host.dedicated_cpus})
        if shared:
            return shared                           # the host's shared CPUs (the housekeeping cores)
    if rt_vcpus:
        return sorted(held[v] for v in range(vcpus) if v not in rt_vcpus)
    return sorted(held[:vcpus])


def plan(extra_specs: dict, vcpus: int, memory_mb: int, host: HostCaps, cpuset: list[int] | None = None,
         page_kib: int | None = None) -> dict:
    """Check the extra specs against the host; return what the XML needs (pins, page size, rt vcpus, cells).

    `cpuset` is the claim's dedicated host CPUs: two pinned guests get disjoint ones. `page_kib` is the huge-page
    size the claim counted the guest's memory in ("large" or "any" may fit more than one size): the guest gets
    that size, not the first one with room, so the node's accounting and its guests agree."""
    specs = extra_specs or {}
    out = {"pins": None, "emulator_cpus": None, "page_kib": None, "rt_vcpus": None, "cells": None}
    policy = specs.get("hw:cpu_policy", "shared")
    if policy not in ("shared", "dedicated", "mixed"):
        raise UnsupportedSpec(f"Invalid hw:cpu_policy {policy!r}: use shared or dedicated.")
    emulator = emulator_policy(specs)
    thread_policy = cputhreads.policy(specs)
    held = None
    if policy in ("dedicated", "mixed"):
        count = dedicated_count(specs, vcpus)
        if not host.dedicated_cpus:
            raise HostLacks("hw:cpu_policy=dedicated needs pinned CPUs, and this host has no "
                            "cpu_dedicated_set configured.")
        if count > len(host.dedicated_cpus):
            extra = " (one more for hw:emulator_threads_policy=isolate)" if count > vcpus else ""
            raise HostLacks(f"hw:cpu_policy=dedicated asks for {count} pinned CPUs{extra}; the host has "
                            f"{len(host.dedicated_cpus)} in its cpu_dedicated_set.")
        held = _pins(count, host, cpuset, thread_policy)
        out["pins"] = {v: held[v] for v in range(vcpus)}
    if "hw:mem_page_size" in specs:
        size = _parse_page_size(specs["hw:mem_page_size"])
        if size != "small" and size != 4:
            free = {k: n for k, n in host.hugepages.items() if int(k) > 4}
            if page_kib and size != "small":
                candidates = [k for k in free if int(k) == int(page_kib)]
            elif size in ("large", "any"):
                candidates = sorted(free, key=int)
            else:
                candidates = [k for k in free if int(k) == size]
            fits = [k for k in candidates if int(free[k]) * int(k) >= memory_mb * 1024]
            if not fits:
                if size == "any" and not page_kib:
                    fits = [None]
                else:
                    have = ", ".join(f"{n} free of {k} KiB" for k, n in sorted(host.hugepages.items())) or "none"
                    wanted = f" in the claimed {page_kib} KiB pages" if page_kib else ""
                    raise HostLacks(f"hw:mem_page_size={specs['hw:mem_page_size']} needs {memory_mb} MiB "
                                    f"of huge pages{wanted}; the host has {have}.")
            out["page_kib"] = int(fits[0]) if fits[0] is not None else None
    if _true(specs.get("hw:cpu_realtime", "false")):
        if policy != "dedicated":
            raise UnsupportedSpec("hw:cpu_realtime=yes requires hw:cpu_policy=dedicated.")
        out["rt_vcpus"] = sorted(_parse_mask(specs.get("hw:cpu_realtime_mask", "^0"), vcpus))
    if held is not None:
        out["emulator_cpus"] = _emulator_cpus(emulator, held, vcpus, set(out["rt_vcpus"] or ()), host)
    if "hw:numa_nodes" in specs:
        try:
            nodes = int(specs["hw:numa_nodes"])
        except ValueError:
            raise UnsupportedSpec(f"Invalid hw:numa_nodes {specs['hw:numa_nodes']!r}.") from None
        if nodes < 1 or nodes > vcpus:
            raise UnsupportedSpec(f"hw:numa_nodes={nodes} must be between 1 and the flavor's {vcpus} vCPUs.")
        if nodes > host.numa_nodes:
            raise HostLacks(f"hw:numa_nodes={nodes} exceeds the host's {host.numa_nodes} NUMA node(s).")
        if memory_mb % nodes:
            raise UnsupportedSpec(f"The flavor's {memory_mb} MiB cannot be split evenly over {nodes} NUMA nodes.")
        cells = []
        for n in range(nodes):
            ids = [v for v in range(vcpus) if v % nodes == n]
            cells.append({"id": n, "cpus": ",".join(map(str, ids)), "memory_mb": memory_mb // nodes})
        out["cells"] = cells
    return out


def check_extra_specs(extra_specs: dict, vcpus: int, memory_mb: int, host: HostCaps) -> None:
    plan(extra_specs, vcpus, memory_mb, host)
