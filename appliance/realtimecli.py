"""`egret realtime show | apply`: the box's real-time profile against the running system, and putting it in place."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from appliance import realtime
from appliance.image import slots


def _kernel_args(prof: dict, root: Path) -> list[str]:
    return realtime.kernel_args(prof, realtime.possible_cpus(root)) if prof["enabled"] else []


def _report(prof: dict, root: Path) -> dict:
    findings = realtime.check(prof, root) if prof["enabled"] else []
    return {"enabled": prof["enabled"], "kernel_args": _kernel_args(prof, root),
            "findings": [{**asdict(f), "ok": f.ok} for f in findings],
            "matches": all(f.ok for f in findings),
            "reboot_needed": any(f.reboot and not f.ok for f in findings)}


def cmd_realtime_show(args, settings) -> int:
    prof = realtime.profile(settings)
    if args.json:
        print(json.dumps(_report(prof, args.root), indent=1))
    elif not prof["enabled"]:
        print("Real-time profile: off ([service.realtime] enabled = false)")
    else:
        print("\n".join(realtime.status_lines(prof, args.root)))
    return 0


def cmd_realtime_apply(args, settings) -> int:
    """What needs no reboot now (IRQ affinity, governor); the PREEMPT_RT kernel and the kernel arguments into every
    boot entry, for the next boot (a profile that is off puts the generic kernel back and takes the arguments out)."""
    prof = realtime.profile(settings)
    kernel_args = _kernel_args(prof, args.root)
    changed = realtime.apply_runtime(prof, args.root) if prof["enabled"] else []
    if (args.esp / "loader" / "entries").is_dir():
        entries, lacking = slots.set_profile(args.esp, kernel_args, rt=prof["enabled"])
    else:
        # no boot entries of ours (a dev machine, or NixOS, whose configuration owns the kernel and its cmdline)
        entries, lacking = None, []
    report = {**_report(prof, args.root), "runtime_changed": changed, "entries_changed": entries,
              "entries_without_rt_kernel": lacking}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"Real-time profile: {'on' if prof['enabled'] else 'off'}; kernel arguments: "
          f"{' '.join(kernel_args) or 'none'}")
    print(f"  changed now: {', '.join(changed) or 'nothing'}")
    print("  boot entries: " + ("no Egret boot entries under " + str(args.esp) if entries is None
                                else ", ".join(entries) or "already boot this kernel with these arguments"))
    if lacking:
        print("  no PREEMPT_RT kernel beside the slot of: " + ", ".join(lacking) + " (they keep the generic kernel)")
    if report["reboot_needed"]:
        print("  reboot to finish: " + "; ".join(f"{f['item']} (want {f['want']}, have {f['have']})"
                                                 for f in report["findings"] if f["reboot"] and not f["ok"]))
    return 0


def add_parsers(sub) -> None:
    r = sub.add_parser("realtime", help="the box's real-time profile ([service.realtime]): show, apply")
    rsub = r.add_subparsers(dest="realtime_command", required=True)
    show = rsub.add_parser("show", help="the profile against the running system")
    show.set_defaults(handler=cmd_realtime_show)
    apply = rsub.add_parser("apply", help="IRQ affinity and governor now; kernel arguments into the boot entries")
    apply.add_argument("--esp", type=Path, default=Path("/boot/efi"))
    apply.set_defaults(handler=cmd_realtime_apply)
    for p in (show, apply):
        p.add_argument("--json", action="store_true")
        p.add_argument("--root", type=Path, default=Path("/"), help=argparse.SUPPRESS)   # tests: a tree of their own
