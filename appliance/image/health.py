"""Boot assessment on the box: wait until every Egret unit that should run answers /healthz, bless the entry.

Until setup is done only the wizard runs (the other units are gated, appliance/image/units.py), so a box that
is not set up is healthy when its wizard is; a set-up box when every unit is."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from appliance import config, siterole
from appliance.image import slots
from appliance.image.units import SITE_FILE, STATE_DIR, before_setup
from appliance.manifest import control_plane, load_manifest
from appliance.unitstatus import health_url, probe

IMAGE_INFO = Path("/usr/share/egret/image.json")


def kmsg(line: str) -> None:
    try:
        with open("/dev/kmsg", "w") as fh:
            fh.write(line + "\n")
    except OSError:
        pass
    print(line, flush=True)


def uptime() -> str:
    return Path("/proc/uptime").read_text().split()[0]


MAX_RESTARTS = 3


def unit_failed(name: str) -> str | None:
    """Why the unit will not get healthy by waiting: failed, or crash-looping (Restart= keeps it cycling)."""
    unit = f"egret-{name}.service"
    if subprocess.run(["systemctl", "is-failed", "--quiet", unit]).returncode == 0:
        return "failed"
    out = subprocess.run(["systemctl", "show", "-p", "NRestarts", "--value", unit], capture_output=True, text=True)
    restarts = int(out.stdout.strip() or 0) if out.stdout.strip().isdigit() else 0
    return f"restarted-{restarts}-times" if restarts >= MAX_RESTARTS else None


def current_slot() -> str:
    try:
        return slots.slot_from_cmdline()
    except slots.UpdateError:
        return "-"


def report(name: str, lines: int = 15) -> None:
    """A stuck or failed unit's state and last journal lines, on the console (CI has nothing else)."""
    show = subprocess.run(["systemctl", "show", "-p", "ActiveState,SubState,NRestarts,ExecMainStatus", "--value",
                           f"egret-{name}.service"], capture_output=True, text=True).stdout.split()
    kmsg(f"EGRET-MARKER unit-state {name} {' '.join(show)}")
    journal = subprocess.run(["journalctl", "-u", f"egret-{name}.service", "-n", str(lines), "--no-pager", "-o", "cat"],
                             capture_output=True, text=True).stdout
    for line in journal.splitlines()[-lines:]:
        kmsg(f"EGRET-JOURNAL {name}: {line[:400]}")


def on_trial(efivars: Path = Path("/sys/firmware/efi/efivars")) -> bool:
    """True when systemd-boot is counting tries for the entry we booted (a freshly applied update)."""
    return slots._efivar(efivars, "LoaderBootCountPath") is not None


def check(timeout: float, esp: Path = Path("/boot/efi")) -> int:
    """0 when healthy; 1 (the unit's FailureAction reboots) only when the booted entry is on trial."""
    code = _check(timeout, esp)
    if code and not on_trial():
        kmsg("EGRET-MARKER unhealthy-not-on-trial: this entry is not counted, so no reboot")
        return 0
    return code


def setup_done(settings: config.Settings) -> bool:
    return (settings.state_dir / "firstboot" / "setup-done").exists()


def in_site(settings: config.Settings) -> bool:
    """The box founded or joined a site: its node agents run (their units' condition, appliance/image/units.py)."""
    return (settings.state_dir / Path(SITE_FILE).relative_to(STATE_DIR)).exists()


def expected_units(names: list[str], manifest: dict, done: bool, site_units: list[str] = (),
                   member: bool = False) -> list[str]:
    """The units that should get healthy this boot: all of them once set up (and a site's node agents on a box in
    a site; without the API units on a site's member, whose conditions keep them off), else those that run before
    setup."""
    if done:
        return [n for n in [*names, *site_units] if not (member and n in manifest and control_plane(manifest[n]))]
    return [n for n in names if n in manifest and before_setup(manifest[n])]


def _check(timeout: float, esp: Path) -> int:
    info = json.loads(IMAGE_INFO.read_text()) if IMAGE_INFO.exists() else {}
    settings = config.load()
    manifest = load_manifest()
    done = setup_done(settings)
    names = expected_units(info["units"] if "units" in info else sorted(manifest), manifest, done,
                           info.get("site_units", []) if in_site(settings) else [], siterole.is_member(settings))
    slot = current_slot()
    kmsg(f"EGRET-MARKER userspace uptime={uptime()} slot={slot} version={info.get('version', '?')} "
         f"setup={'done' if done else 'pending'}")
    deadline = time.monotonic() + timeout
    pending = set(names)
    next_report = time.monotonic() + 90
    while pending and time.monotonic() < deadline:
        if time.monotonic() > next_report:
            next_report = time.monotonic() + 90
            for name in sorted(pending):
                report(name, 5)
        for name in sorted(pending):
            if probe(health_url(settings, manifest[name]), timeout=2.0)[0]:
                pending.discard(name)
                kmsg(f"EGRET-MARKER unit-healthy {name} uptime={uptime()}")
            elif (why := unit_failed(name)):
                kmsg(f"EGRET-MARKER unhealthy unit={name} state={why} slot={slot} uptime={uptime()}")
                report(name)
                return 1
        if pending:
            time.sleep(1)
    if pending:
        for name in sorted(pending):
            report(name)
        kmsg(f"EGRET-MARKER unhealthy timeout units={','.join(sorted(pending))} slot={slot}")
        return 1
    blessed = None
    if esp.is_dir():
        try:
            blessed = slots.mark_good(esp)
        except OSError as exc:
            kmsg(f"EGRET-MARKER bless-failed {exc}")
    kmsg(f"EGRET-MARKER healthy uptime={uptime()} slot={slot} units={','.join(names) or '-'} "
         f"blessed={blessed or '-'} setup={'done' if done else 'pending'}")
    return 0
