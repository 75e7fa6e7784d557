"""This box's role in a site (founder, member or none) as the cluster unit's site record says; services read it."""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

from appliance.manifest import Unit, control_plane, load_manifest, site_node

log = logging.getLogger("egret.site")
STATE = "cluster"  # the cluster unit's state directory, which holds the record


def record_path(settings) -> Path:
    return Path(settings.state_dir) / STATE / "site.json"


def role(settings) -> str | None:
    """"founder", "member" or None (a box of its own). A record that cannot be read counts as none: a standalone
    box must never lose its own cloud to a broken file, and the cluster unit reports the broken record itself."""
    try:
        return json.loads(record_path(settings).read_text()).get("role")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError) as exc:
        log.warning("site record %s unreadable (%s): this box counts as a box of its own", record_path(settings), exc)
        return None


def is_member(settings) -> bool:
    """A member's own compute and network services leave the node's guests and links to the site: its agents
    carry out the site's control plane, and the member's own cloud (its API units stay off) holds none of them."""
    return role(settings) == "member"


def runs_here(settings, unit: Unit) -> bool:
    """False for an API unit on a member: the box gave up its own cloud at the join, the site's founder serves it
    (the member's node agents carry out its work on this node). Every other unit runs wherever it is enabled."""
    return not (control_plane(unit) and is_member(settings))


def own_units(settings, units: list[Unit]) -> list[Unit]:
    """The units of `units` this box runs in its role (`egret up`, `egret status`, the wizard, heartbeats)."""
    member = is_member(settings)   # the record read once, not once per unit
    return [u for u in units if not (member and control_plane(u))]


def _systemctl(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=120)


def apply_to_units(settings, systemctl=_systemctl, booted: Path = Path("/run/systemd/system")) -> list[str]:
    """After `egret join` or `egret cluster leave` on a box whose units systemd runs (the appliance): a member stops
    the API units and starts its node agents, a box of its own again starts the API units and stops the agents
    (their unit conditions say the same at the next boot; `egret up` applies the role at its next start). A
    founder's units are left as they are. One line per systemctl call, saying what it did."""
    if not booted.is_dir() or shutil.which("systemctl") is None:
        return []
    box_role = role(settings)
    if box_role == "founder":
        return []
    units = load_manifest().values()
    api = [f"egret-{u.name}.service" for u in units if control_plane(u)]
    agents = [f"egret-{u.name}.service" for u in units if site_node(u)]
    plan = [("stop", api), ("start", agents)] if box_role == "member" else [("start", api), ("stop", agents)]
    lines = []
    for action, names in plan:
        loaded = [n for n in names if systemctl(["show", "-p", "LoadState", "--value", n]).stdout.strip() == "loaded"]
        if not loaded:
            continue
        done = systemctl([action, *loaded])
        outcome = "done" if done.returncode == 0 else f"failed: {(done.stderr or done.stdout).strip()[:300]}"
        lines.append(f"systemctl {action} {' '.join(loaded)}: {outcome}")
    return lines
