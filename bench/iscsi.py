"""iSCSI bench: a volume read and written by QEMU over the storage service's tgtd vs as a local file; prints JSON.

The export is the one a server on another node of a site uses (services/storage/drivers/tgt.py: tgtd started on a
loopback portal, one target per attachment, CHAP, one initiator); the reader is QEMU's own initiator (libiscsi),
through `qemu-img bench` on the qcow2 volume as a guest's QEMU opens it. Sequential 1 MiB requests, queue depth 4,
page cache warm on both sides: this measures what the protocol costs, not the disk. Needs root (tgtd).

    python bench/iscsi.py [--size-mb N]
"""
from __future__ import annotations

import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from appliance.testing.plugin import free_port  # noqa: E402
from services.storage.drivers.file import FileDriver  # noqa: E402
from services.storage.drivers.tgt import TgtTarget  # noqa: E402

CONTROL_PORT = 733          # not the default tgtd's (0) nor the tests' (731)
# qemu-img bench takes no --image-opts: its initiator is QEMU's default name, the CHAP account is in the URL
INITIATOR = "iqn.2008-11.org.linux-kvm"


def qemu_bench(size_mb: int, write: bool, image: list[str]) -> float:
    """MiB/s of `qemu-img bench` over the whole volume in 1 MiB requests."""
    cmd = ["qemu-img", "bench", "-c", str(size_mb), "-s", "1M", "-d", "4", *(["-w"] if write else []), *image]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        raise RuntimeError(f"qemu-img bench failed: {run.stderr.strip() or run.stdout.strip()}")
    seconds = float(re.search(r"Run completed in ([0-9.]+) seconds", run.stdout).group(1))
    return round(size_mb / seconds, 1)


def measure(size_mb: int) -> dict:
    if os.geteuid() != 0:
        sys.exit("the iSCSI bench needs root (tgtd)")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        driver = FileDriver(Path(tmp) / "volumes", "qcow2")
        volume = "bench-" + secrets.token_hex(4)
        driver.create_volume(volume, max(1, -(-size_mb // 1024)))
        path = driver.export_path(volume)
        target = TgtTarget(f"127.0.0.1:{free_port()}", CONTROL_PORT, Path(tmp) / "tgtd.log")
        reason = target.available()
        if reason:
            sys.exit(f"the iSCSI bench needs tgtd: {reason}")
        try:
            t0 = time.monotonic()
            target.ensure_running()
            start_s = time.monotonic() - t0
            local = ["-f", "qcow2", path]
            figures = {"local_write": qemu_bench(size_mb, True, local)}   # allocates every cluster first
            figures["local_read"] = qemu_bench(size_mb, False, local)
            exports, unexports = [], []
            for i in range(5):
                name = f"iqn.2026-12.dev.egret:attachment-bench-{i}"
                password = secrets.token_urlsafe(12)
                t0 = time.monotonic()
                target.export(name, path, INITIATOR, f"bench{i}", password)
                exports.append(time.monotonic() - t0)
                if i == 0:
                    remote = ["-f", "qcow2", f"iscsi://bench{i}%{password}@{target.portal}/{name}/1"]
                    figures["iscsi_read"] = qemu_bench(size_mb, False, remote)
                    figures["iscsi_write"] = qemu_bench(size_mb, True, remote)
                t0 = time.monotonic()
                target.unexport(name)
                unexports.append(time.monotonic() - t0)
        finally:
            target.stop()
    return {
        "throughput_mib_s": figures,
        "iscsi_vs_local": {"read": round(figures["iscsi_read"] / figures["local_read"], 3),
                           "write": round(figures["iscsi_write"] / figures["local_write"], 3)},
        "tgtd_start_s": round(start_s, 3),
        "export_ms_median": round(statistics.median(exports) * 1000, 1),
        "unexport_ms_median": round(statistics.median(unexports) * 1000, 1),
        "size_mb": size_mb,
        "what": "qemu-img bench, qcow2 volume, 1 MiB sequential requests, queue depth 4, loopback portal, "
                "page cache warm",
        "cpu_count": os.cpu_count(),
    }


if __name__ == "__main__":
    size = int(sys.argv[sys.argv.index("--size-mb") + 1]) if "--size-mb" in sys.argv else 256
    print(json.dumps(measure(size), indent=2))
