"""`egret image ...` and `egret update ...` subcommands (wired into appliance/cli.py)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from appliance.image import health, slots
from appliance.image.writer import RefusedError, write_image


def _disk_of_mount(mountpoint: str) -> str:
    """/dev/<whole disk> holding the filesystem mounted at mountpoint (e.g. the ESP)."""
    st = os.stat(mountpoint)
    majmin = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    node = Path("/sys/dev/block", majmin).resolve()
    if (node / "partition").exists():
        node = node.parent
    return f"/dev/{node.name}"


def cmd_image_write(args, settings) -> int:
    try:
        result = write_image(args.image, args.device, force=args.force, verify=not args.no_verify,
                             progress=not args.quiet)
    except RefusedError as exc:
        print(f"egret: {exc}", file=sys.stderr)
        return 3
    except (OSError, ValueError) as exc:
        print(f"egret: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result) if args.json else
          f"wrote {result['bytes']} bytes to {args.device}; sha256 {result['sha256']}"
          + ("; verified" if result["verified"] else "; not verified"))
    return 0


def cmd_update_apply(args, settings) -> int:
    try:
        current = args.current or slots.slot_from_cmdline()
        disk = args.disk or _disk_of_mount(str(args.esp))
        result = slots.apply(args.source, disk=disk, esp=args.esp, current=current, tries=args.tries,
                             console=args.console, progress=not args.quiet)
    except (slots.UpdateError, OSError, LookupError) as exc:
        print(f"egret: update refused: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result) if args.json else
          f"slot {result['slot']} now holds {result['version']}; it boots next ({result['tries']} tries, "
          f"entry {result['entry']}); reboot to switch")
    return 0


def cmd_update_status(args, settings) -> int:
    try:
        current = slots.slot_from_cmdline()
    except slots.UpdateError:
        current = None
    rows = [{"entry": e.path.name, "slot": e.slot, "n": e.n, "tries_left": e.tries_left}
            for e in slots.boot_order(args.esp)]
    print(json.dumps({"current": current, "boot_order": rows}, indent=1))
    return 0


def cmd_update_health(args, settings) -> int:
    return health.check(args.timeout, args.esp)


def cmd_update_mark_good(args, settings) -> int:
    print(slots.mark_good(args.esp) or "nothing to bless (entry not counted)")
    return 0


def add_parsers(sub) -> None:
    im = sub.add_parser("image", help="appliance image: flash it to a disk")
    isub = im.add_subparsers(dest="image_command", required=True)
    w = isub.add_parser("write", help="write an image to a device, with progress, then verify it")
    w.add_argument("image")
    w.add_argument("device")
    w.add_argument("--force", action="store_true", help="write even to a mounted or system disk (asks to type it)")
    w.add_argument("--no-verify", action="store_true")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    w.add_argument("--json", action="store_true")
    w.set_defaults(handler=cmd_image_write)

    up = sub.add_parser("update", help="A/B updates of the appliance")
    usub = up.add_subparsers(dest="update_command", required=True)
    a = usub.add_parser("apply", help="verify an update bundle or image, write the inactive slot, boot it next")
    a.add_argument("source", help="update bundle (.update.tar) or disk image (.raw with .raw.sha256)")
    a.add_argument("--disk", help="disk with the slots (default: the disk holding --esp)")
    a.add_argument("--esp", type=Path, default=Path("/boot/efi"))
    a.add_argument("--current", choices=["a", "b"], help="the running slot (default: from /proc/cmdline)")
    a.add_argument("--tries", type=int, default=3, help="boots the new slot gets to become healthy")
    a.add_argument("--console", default="ttyS0")
    a.add_argument("--quiet", action="store_true")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=cmd_update_apply)
    s = usub.add_parser("status", help="current slot and boot order")
    s.add_argument("--esp", type=Path, default=Path("/boot/efi"))
    s.set_defaults(handler=cmd_update_status)
    h = usub.add_parser("health", help="boot assessment: wait for every unit, then bless the boot entry")
    h.add_argument("--timeout", type=float, default=900)
    h.add_argument("--esp", type=Path, default=Path("/boot/efi"))
    h.set_defaults(handler=cmd_update_health)
    g = usub.add_parser("mark-good", help="bless the booted entry (drop its boot counter)")
    g.add_argument("--esp", type=Path, default=Path("/boot/efi"))
    g.set_defaults(handler=cmd_update_mark_good)
