"""This box's role in a site (founder, member or none) as the cluster unit's site record says; services read it."""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

from appliance.manifest import Unit, control_plane, load_manifest

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
    return [u for u in units if runs_here(settings, u)]


def _systemctl(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=120)


def apply_to_units(settings, systemctl=_systemctl, booted: Path = Path("/run/systemd/system")) -> list[str]:
    """After `egret join` or `egret cluster leave` on a box whose units systemd runs (the appliance): stop the API
    units a member does not run, or start them again on a box of its own (their unit conditions say the same at
    the next boot). `egret up` applies the role at its next start. Lines saying what was done."""
    if not booted.is_dir() or shutil.which("systemctl") is None:
        return []
    member = is_member(settings)
    names = [f"egret-{u.name}.service" for u in load_manifest().values() if control_plane(u)]
    loaded = [n for n in names if systemctl(["show", "-p", "LoadState", "--value", n]).stdout.strip() == "loaded"]
    if not loaded:
        return []
    action, done_verb = ("stop", "stopped") if member else ("start", "started")
    done = systemctl([action, *loaded])
    if done.returncode != 0:
        return [f"systemctl {action} {' '.join(loaded)} failed: {(done.stderr or done.stdout).strip()[:300]}"]
    return [f"{done_verb} {' '.join(loaded)}" + (" (the site's founder serves its API)" if member else "")]
