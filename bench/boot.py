#!/usr/bin/env python3
"""Boot timings of the Egret image vs a bare Debian image of the same build, booted in the same run (JSON).

Both are built by images/build.py from the same cached rootfs (the bare one without Egret) and booted under
QEMU/TCG with OVMF, one after the other, with the same vCPUs and memory. Phases, from the serial log:
kernel start → userspace (systemd of the root fs starts), → all services healthy (EGRET-MARKER healthy;
for the bare image, multi-user.target reached), plus the wall clock from QEMU start (firmware included).
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "image"))

from egret_qemu import Guest  # noqa: E402

USERSPACE = re.compile(r"\[\s*(\d+\.\d+)\] systemd\[1\]: systemd \d+")
HEALTHY = re.compile(r"\[\s*(\d+\.\d+)\] EGRET-MARKER healthy")


def ensure(path_env: str, default: Path, extra: list[str]) -> Path:
    given = os.environ.get(path_env)
    if given:
        return Path(given)
    if not default.exists():
        subprocess.run([sys.executable, str(REPO / "images" / "build.py"), "--out", str(default.parent), *extra],
                       check=True, stdout=sys.stderr)
    return default


def boot(image: Path, name: str, smp: int, timeout: float = 900) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"egret-bench-{name}-") as tmp:
        g = Guest(image, Path(tmp), name, smp=smp, mem=1536).start()
        try:
            g.wait_for(HEALTHY.pattern, timeout)
            wall = time.monotonic() - g.started
            text = g.text()
        finally:
            g.stop()
    user = [float(m) for m in USERSPACE.findall(text)]
    healthy = float(HEALTHY.search(text).group(1))
    return {"kernel_to_userspace_s": user[-1] if user else None, "kernel_to_healthy_s": healthy,
            "userspace_to_healthy_s": round(healthy - user[-1], 2) if user else None,
            "qemu_start_to_healthy_wall_s": round(wall, 1)}


def main() -> int:
    out = REPO / "artifacts" / "image"
    egret = ensure("EGRET_IMAGE", out / "egret-amd64.raw", [])
    bare = ensure("EGRET_BARE_IMAGE", out / "bare-amd64.raw", ["--bare"])
    smp = int(os.environ.get("EGRET_BENCH_SMP", "2"))
    load = os.getloadavg()[0]
    result = {"bench": "boot", "accel": "tcg", "firmware": "ovmf", "smp": smp, "mem_mb": 1536,
              "host_loadavg_1m_at_start": round(load, 2), "bare": boot(bare, "bare", smp),
              "egret": boot(egret, "egret", smp)}
    info = json.loads((egret.with_name(egret.name.replace(".raw", ".build.json"))).read_text())
    result["egret_units"] = info.get("units")
    result["egret_extra_s"] = round(result["egret"]["kernel_to_healthy_s"] - result["bare"]["kernel_to_healthy_s"], 2)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
