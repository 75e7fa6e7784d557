"""hw:cpu_thread_policy: which free dedicated host CPUs a pinned guest gets, core by core (Nova's prefer, isolate,
require). A core is a set of thread siblings (SMT); a CPU whose siblings the node did not report is a core alone."""
from __future__ import annotations

from services.compute.drivers.specs import HostLacks, UnsupportedSpec

POLICIES = ("prefer", "isolate", "require")


def policy(specs: dict) -> str:
    value = specs.get("hw:cpu_thread_policy")
    if value is None:
        return "prefer"
    if value not in POLICIES:
        raise UnsupportedSpec(f"Invalid hw:cpu_thread_policy {value!r}: use prefer, isolate or require.")
    if specs.get("hw:cpu_policy", "shared") not in ("dedicated", "mixed"):
        raise UnsupportedSpec("hw:cpu_thread_policy requires hw:cpu_policy=dedicated.")
    return value


def cores(dedicated, siblings) -> list[list[int]]:
    """The dedicated CPUs grouped by core, each group in CPU order, groups in the order of their first CPU."""
    dedicated = {int(c) for c in dedicated}
    core_of = {int(c): {int(s) for s in group} for group in siblings or [] for c in group}
    seen, out = set(), []
    for cpu in sorted(dedicated):
        if cpu not in seen:
            group = sorted((core_of.get(cpu) or {cpu}) & dedicated)
            seen.update(group)
            out.append(group)
    return out


def pick(thread_policy: str, count: int, dedicated, siblings, free) -> list[int]:
    """The CPUs a guest holding `count` dedicated CPUs takes from `free`: its pinned CPUs first, then (isolate) the
    sibling threads it keeps idle, which it holds too. HostLacks with the reason when they are not there."""
    free = {int(c) for c in free}
    groups = cores(dedicated, siblings)
    if thread_policy == "isolate":
        # one core per pinned CPU, and no other guest on that core's other threads
        whole = [g for g in groups if set(g) <= free]
        if len(whole) < count:
            raise HostLacks(f"hw:cpu_thread_policy=isolate needs {count} dedicated cores with every thread free; "
                            f"the node has {len(whole)}.")
        chosen = whole[:count]
        return [g[0] for g in chosen] + [c for g in chosen for c in g[1:]]
    if thread_policy == "require":
        smt = [g for g in groups if len(g) > 1]
        if not smt:
            raise HostLacks("hw:cpu_thread_policy=require needs a node with SMT (thread siblings); this node's "
                            "dedicated CPUs are one thread per core.")
        # pinned CPUs in sibling pairs: whole free cores, thread after thread
        out = [c for g in smt if set(g) <= free for c in g]
        if len(out) < count:
            raise HostLacks(f"hw:cpu_thread_policy=require needs {count} CPUs on free SMT cores; the node has "
                            f"{len(out)}.")
        return out[:count]
    # prefer: any free CPUs, the threads of one core before the next core's
    out = [c for g in groups for c in g if c in free]
    if len(out) < count:
        raise HostLacks(f"{count} dedicated CPUs are needed; the node has {len(out)} free.")
    return out[:count]
