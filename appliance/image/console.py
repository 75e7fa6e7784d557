"""The boot console banner: the wizard URL and a one-time setup code (firstboot's banner when it has one)."""
from __future__ import annotations

import grp
import json
import os
import secrets
import socket
import subprocess
from pathlib import Path

from appliance import config


def _addresses() -> list[str]:
    try:
        out = subprocess.run(["ip", "-j", "-4", "addr", "show", "scope", "global"], capture_output=True,
                             text=True, timeout=5).stdout
        return [a["local"] for link in json.loads(out or "[]") for a in link.get("addr_info", [])]
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return []


def _share_with_services(path: Path) -> None:
    """Root (the console unit) creates the code; the wizard runs as a service user in group egret."""
    if os.geteuid() != 0:
        return
    try:
        gid = grp.getgrnam("egret").gr_gid
    except KeyError:
        return
    for p, mode in ((path.parent, 0o2770), (path, 0o640)):
        os.chown(p, -1, gid)
        os.chmod(p, mode)


def placeholder_banner(settings: config.Settings) -> str:
    """Used until firstboot.console.banner exists: a code kept in the state dir and every URL of this box."""
    path = settings.state_dir / "firstboot" / "setup-code"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        try:  # the console unit and the wizard may race to create it; the first one wins
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write("-".join(secrets.token_hex(2).upper() for _ in range(3)) + "\n")
    _share_with_services(path)
    code = path.read_text().strip()
    port = settings.port("firstboot")
    hosts = _addresses() or [socket.gethostname()]
    lines = ["Egret appliance: first-boot setup"]
    lines += [f"  wizard URL: http://{h}:{port}/" for h in hosts]
    lines.append(f"  setup code: {code}")
    return "\n".join(lines)


def banner(settings: config.Settings) -> str:
    try:
        from firstboot.console import banner as firstboot_banner
    except ImportError:
        return placeholder_banner(settings)
    return firstboot_banner(settings)


def main() -> int:
    settings = config.load()
    text = banner(settings)
    # markers and banner go through kmsg: a getty owns ttyS0, and kmsg lines reach the serial console
    for target in ("/dev/kmsg", "/dev/console"):
        try:
            with open(target, "w") as fh:
                for line in text.splitlines():
                    fh.write(("EGRET-CONSOLE " if target == "/dev/kmsg" else "") + line + "\n")
                    fh.flush()
        except OSError:
            pass
    Path("/run/issue.d").mkdir(parents=True, exist_ok=True)
    Path("/run/issue.d/50-egret.issue").write_text(text + "\n\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
