"""The service manifest (services/manifest.toml): every unit's app, ports, user, capabilities, order."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST_PATH = Path(__file__).resolve().parent.parent / "services" / "manifest.toml"


@dataclass(frozen=True)
class Unit:
    name: str
    service: str
    description: str
    app: str
    ports: tuple
    user: str
    capabilities: tuple = ()
    after: tuple = ()
    state_dir: str = ""
    supplementary_groups: tuple = ()
    extra: dict = field(default_factory=dict, compare=False, hash=False)


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, Unit]:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    units = {}
    known = {"service", "description", "app", "ports", "user", "capabilities", "after", "state_dir",
             "supplementary_groups"}
    for name, spec in data.get("units", {}).items():
        units[name] = Unit(
            name=name, service=spec["service"], description=spec["description"], app=spec["app"],
            ports=tuple(spec.get("ports", ())), user=spec["user"],
            capabilities=tuple(spec.get("capabilities", ())), after=tuple(spec.get("after", ())),
            state_dir=spec.get("state_dir", name), supplementary_groups=tuple(spec.get("supplementary_groups", ())),
            extra={k: v for k, v in spec.items() if k not in known})
    return units


def start_order(units: dict[str, Unit], enabled_services) -> list[Unit]:
    """Enabled units, each after the units it names in `after` (a topological order)."""
    # optional units (a federation hub) run only where enabled_services names them
    wanted = set(enabled_services) or {u.service for u in units.values() if not u.extra.get("optional")}
    chosen = {n: u for n, u in units.items() if u.service in wanted}
    ordered, seen = [], set()

    def visit(name, stack=()):
        if name in seen or name not in chosen:
            return
        if name in stack:
            raise ValueError(f"manifest: dependency cycle through {name}")
        for dep in chosen[name].after:
            visit(dep, stack + (name,))
        seen.add(name)
        ordered.append(chosen[name])

    for name in chosen:
        visit(name)
    return ordered


def site_node(unit: Unit) -> bool:
    """True for the node agents a site's boxes run (optional elsewhere)."""
    return unit.extra.get("site_node", False) is True


def control_plane(unit: Unit) -> bool:
    """One of the cloud's API services, which a site's member leaves to its founder (appliance/siterole.py)."""
    return unit.extra.get("control_plane", False) is True
