"""This box's role in a site (founder, member or none) as the cluster unit's site record says; services read it."""
from __future__ import annotations

import json
import logging
from pathlib import Path

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
    carry out the site's control plane, and the member's own (unadvertised) cloud holds none of them."""
    return role(settings) == "member"
