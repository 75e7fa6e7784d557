#!/usr/bin/env python3
"""Boot timings of the Egret image vs a bare Debian image of the same build, booted in the same run (JSON).

Both are built by images/build.py from the same cached rootfs (the bare one without Egret) and booted under
QEMU/TCG with OVMF, one after the other, with the same vCPUs and memory. Phases, from the serial log (kernel
timestamps) and the wall clock from QEMU start (firmware included):
- bare: kernel start → userspace (systemd of the root fs starts) → multi-user.target reached;
- egret, factory box: kernel start → userspace → wizard ready (the boot assessment's healthy marker: before setup
  the wizard is the only unit that runs);
- egret, headless setup inside the guest (`egret firstboot --answers`, started by the late hook once the wizard is
  ready): its duration, until every service answered /healthz;
- egret, set-up box: the guest reboots; kernel start → userspace → all services healthy.
Set EGRET_IMAGE / EGRET_BARE_IMAGE to reuse built images.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "image"))
sys.path.insert(0, str(REPO))

from egret_qemu import Guest  # noqa: E402
from images import testlayer  # noqa: E402  (the fw_cfg hook units: a layer on a copy, not in the flashed image)
from test_image_boot import ANSWERS  # noqa: E402  (the boot test's answers: the same setup)

USERSPACE = re.compile(r"\[\s*(\d+\.\d+)\] systemd\[1\]: systemd \d+")
HEALTHY = re.compile(r"\[\s*(\d+\.\d+)\] EGRET-MARKER healthy .*")
HOOK = re.compile(r"\[\s*(\d+\.\d+)\] EGRET-HOOK late: bench-(setup-start|setup-end)(?: rc=(\d+))?")
SETUP_END = r"EGRET-HOOK late: bench-setup-end rc=\d+"

# after the first assessment (wizard ready): headless setup, then a reboot to time the set-up box
SETUP_HOOK = r"""
if [ -e /var/lib/egret/firstboot/setup-done ]; then echo bench-second-boot; exit 0; fi
modprobe 9pnet_virtio 2>/dev/null; mkdir -p /mnt/share
mountpoint -q /mnt/share || mount -t 9p -o trans=virtio,version=9p2000.L,ro egretshare /mnt/share
nic=$(ip -4 route show default | awk '{print $5; exit}')
sed "s/@NIC@/$nic/" /mnt/share/answers.yaml > /run/answers.yaml
echo bench-setup-start
egret firstboot --answers /run/answers.yaml > /run/firstboot.log 2>&1
echo "bench-setup-end rc=$?"
tail -n 3 /run/firstboot.log
sync; systemctl reboot
"""


def ensure(path_env: str, default: Path, extra: list[str]) -> Path:
    given = os.environ.get(path_env)
    if given:
        return Path(given)
    if not default.exists():
        subprocess.run([sys.executable, str(REPO / "images" / "build.py"), "--out", str(default.parent), *extra],
                       check=True, stdout=sys.stderr)
    return default


def phases(text: str) -> dict:
    user = [float(m) for m in USERSPACE.findall(text)]
    healthy = float(HEALTHY.search(text).group(1))
    return {"kernel_to_userspace_s": user[-1] if user else None, "kernel_to_healthy_s": healthy,
            "userspace_to_healthy_s": round(healthy - user[-1], 2) if user else None}


def boot_bare(image: Path, smp: int, timeout: float = 900) -> dict:
    with tempfile.TemporaryDirectory(prefix="egret-bench-bare-") as tmp:
        g = Guest(image, Path(tmp), "bare", smp=smp, mem=1536).start()
        try:
            g.wait_for(HEALTHY.pattern, timeout)
            wall = time.monotonic() - g.started
            text = g.text()
        finally:
            g.stop()
    return {**phases(text), "qemu_start_to_healthy_wall_s": round(wall, 1)}


def boot_egret(image: Path, smp: int, timeout: float = 900) -> dict:
    with tempfile.TemporaryDirectory(prefix="egret-bench-egret-") as tmp:
        share = Path(tmp) / "share"
        share.mkdir()
        # the boot test gives the NIC through the wizard's API; here the hook puts the guest's NIC for @NIC@
        answers = {**ANSWERS, "network": {"interface": "@NIC@", **ANSWERS["network"]}}
        (share / "answers.yaml").write_text(yaml.safe_dump(answers))
        g = Guest(image, Path(tmp), "egret", smp=smp, mem=1536, share=share)
        g.set_hook("late", SETUP_HOOK)
        g.start()
        try:
            ready = g.wait_for(HEALTHY.pattern, timeout)
            ready_wall = time.monotonic() - g.started
            end = g.wait_for(SETUP_END, timeout, ready.end())
            setup_wall = time.monotonic() - g.started - ready_wall
            t_reboot = time.monotonic()
            again = g.wait_for(HEALTHY.pattern, timeout, end.end())
            again_wall = time.monotonic() - t_reboot
            text = g.text()
        finally:
            g.stop()
    first, second = text[:end.end()], text[end.end():]
    hooks = {m.group(2): (float(m.group(1)), m.group(3)) for m in HOOK.finditer(first)}
    factory = phases(first)
    setup_box = phases(second)
    return {
        "factory_box": {"kernel_to_userspace_s": factory["kernel_to_userspace_s"],
                        "kernel_to_wizard_ready_s": factory["kernel_to_healthy_s"],
                        "qemu_start_to_wizard_ready_wall_s": round(ready_wall, 1),
                        "healthy_marker": ready.group(0).split("EGRET-MARKER ")[1].strip()},
        "headless_setup": {"rc": int(hooks["setup-end"][1]),
                           "duration_s": round(hooks["setup-end"][0] - hooks["setup-start"][0], 2),
                           "wall_from_wizard_ready_s": round(setup_wall, 1)},
        "set_up_box_reboot": {"kernel_to_userspace_s": setup_box["kernel_to_userspace_s"],
                              "kernel_to_all_services_healthy_s": setup_box["kernel_to_healthy_s"],
                              "reboot_request_to_all_healthy_wall_s": round(again_wall, 1),
                              "healthy_marker": again.group(0).split("EGRET-MARKER ")[1].strip()},
    }


def with_hooks(raw: Path) -> Path:
    units = json.loads(raw.with_name(raw.name.replace(".raw", ".build.json")).read_text())["service_units"]
    return testlayer.layered_image(raw, raw.with_name(raw.name.replace(".raw", ".hooks.raw")), units)


def main() -> int:
    out = REPO / "artifacts" / "image"
    egret = ensure("EGRET_IMAGE", out / "egret-amd64.raw", [])
    bare = ensure("EGRET_BARE_IMAGE", out / "bare-amd64.raw", ["--bare"])
    smp = int(os.environ.get("EGRET_BENCH_SMP", "2"))
    load = os.getloadavg()[0]
    result = {"bench": "boot", "accel": "tcg", "firmware": "ovmf", "smp": smp, "mem_mb": 1536,
              "host_loadavg_1m_at_start": round(load, 2), "bare": boot_bare(bare, smp),
              "egret": boot_egret(with_hooks(egret), smp)}
    info = json.loads((egret.with_name(egret.name.replace(".raw", ".build.json"))).read_text())
    result["egret_units"] = info.get("units")
    bare_s = result["bare"]["kernel_to_healthy_s"]
    result["egret_wizard_ready_extra_s"] = round(result["egret"]["factory_box"]["kernel_to_wizard_ready_s"] - bare_s, 2)
    result["egret_all_healthy_extra_s"] = round(
        result["egret"]["set_up_box_reboot"]["kernel_to_all_services_healthy_s"] - bare_s, 2)
    result["host_loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
