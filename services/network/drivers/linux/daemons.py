"""Files of the daemons the driver runs in namespaces (dnsmasq, the metadata proxy): configs and pid files."""
from __future__ import annotations

import os
from pathlib import Path


def write_if_changed(path: Path, text: str) -> bool:
    """Replace `path` atomically when its text differs; True if it changed (a daemon then reloads)."""
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


def pid_alive(pidfile: Path, needle: str) -> int | None:
    """The pid in `pidfile` if that process is alive and its command line contains `needle`."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if needle in cmdline else None
