"""Nova's weighers: each scores the nodes 0..1 (normalised), times its multiplier; the highest sum wins."""
from __future__ import annotations

from services.compute.scheduler.request import RequestSpec
from services.compute.scheduler.state import HostState


def _normalise(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    return [0.0 if hi == lo else (v - lo) / (hi - lo) for v in values]


def weighers(section, spec: RequestSpec) -> list[tuple[float, callable]]:
    """(multiplier, score) pairs: spread (most free RAM) unless [compute] scheduler_weigher = pack."""
    pack = str(section.get("scheduler_weigher", "spread")).lower() == "pack"
    out = [(-1.0 if pack else 1.0, lambda h: h.free_ram_mb)]
    # A soft policy must outweigh spread/pack, which alone spans the whole 0..1 range when one node differs
    # (Nova's multipliers default to 1.0 and leave such ties to chance; operators raise them, as here).
    if spec.group_policy == "soft-affinity":
        out.append((float(section.get("soft_affinity_weight_multiplier", 2.0)), lambda h: h.group_members))
    elif spec.group_policy == "soft-anti-affinity":
        out.append((-float(section.get("soft_anti_affinity_weight_multiplier", 2.0)), lambda h: h.group_members))
    if spec.volume_homes:
        # next to its exported volumes when that node has room: their I/O stays off the network
        out.append((float(section.get("volume_locality_weight_multiplier", 2.0)), _volume_locality(spec)))
    return out


def _volume_locality(spec: RequestSpec):
    """A node's score: how many of the server's exported volumes live there."""
    homes = list(spec.volume_homes.values())
    return lambda h: homes.count(h.host)


def best(hosts: list[HostState], section, spec: RequestSpec) -> HostState:
    """The winner; ties go to the first host by name, so a decision can be replayed."""
    totals = [0.0] * len(hosts)
    for multiplier, score in weighers(section, spec):
        for i, w in enumerate(_normalise([float(score(h)) for h in hosts])):
            totals[i] += multiplier * w
    ranked = sorted(zip(totals, hosts), key=lambda pair: (-pair[0], pair[1].host))
    return ranked[0][1]
