"""Show a boot banner on the box's serial console and /etc/issue (the wizard passes its own: URL and setup code)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from appliance import config

ISSUE = Path("/run/issue.d/50-egret.issue")
CONSOLES = ("/dev/kmsg", "/dev/console")


def show(text: str) -> None:
    """The banner on the console (through kmsg: a getty owns ttyS0, and kmsg lines reach the serial console),
    on /dev/console, in the getty's issue, and on stdout."""
    for target in CONSOLES:
        try:
            with open(target, "w") as fh:
                for line in text.splitlines():
                    fh.write(("EGRET-CONSOLE " if target.endswith("kmsg") else "") + line + "\n")
                    fh.flush()
        except OSError:
            pass
    ISSUE.parent.mkdir(parents=True, exist_ok=True)
    ISSUE.write_text(text + "\n\n")
    print(text)


def main(banner: Callable[[config.Settings], str]) -> int:
    """What the console unit runs at every boot: `banner(settings)` (a new one-time setup code each boot), shown."""
    show(banner(config.load()))
    return 0
