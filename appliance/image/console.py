"""The boot console banner: the wizard URL and a one-time setup code, on the serial console and /etc/issue."""
from __future__ import annotations

from pathlib import Path

from appliance import config


def banner(settings: config.Settings) -> str:
    from firstboot.console import banner as firstboot_banner
    return firstboot_banner(settings)


def main() -> int:
    settings = config.load()
    text = banner(settings)  # a new one-time setup code each boot
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
