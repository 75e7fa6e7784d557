"""Real-time bench: wake-up latency of a SCHED_FIFO thread on every CPU (cyclictest), idle and with every CPU busy.

What a pinned real-time guest's vCPU can expect from this box's kernel: the time between a timer's expiry and the
woken thread running, per CPU, as min/avg/p99/p99.9/max in microseconds. The box's real-time profile
(appliance/realtime.py: isolated CPUs, a PREEMPT_RT kernel) is what brings the tail down; the report says which
kernel and which isolated CPUs the figures come from. Needs root (mlockall, SCHED_FIFO) and rt-tests.

    python bench/realtime.py [--seconds 10] [--interval-us 200]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance import realtime  # noqa: E402

HISTOGRAM_US = 20000        # buckets of 1 us up to 20 ms; a longer wake-up still counts in max


def _spin() -> None:
    while True:
        pass


def percentile(histogram: dict, cycles: int, q: float) -> int | None:
    """The latency (us) below which q of the samples fall, from cyclictest's histogram."""
    wanted, seen = q * cycles, 0
    for us, count in sorted((int(k), v) for k, v in histogram.items()):
        seen += count
        if seen >= wanted:
            return us
    return None             # in the overflow: longer than the histogram


def cyclictest(seconds: int, interval_us: int, cpus: list[int]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = ["cyclictest", "--mlockall", "--quiet", "--priority=95", f"--interval={interval_us}", "--distance=0",
               f"--duration={seconds}", "--threads", f"--affinity={realtime.cpulist(cpus)}",
               f"--histogram={HISTOGRAM_US}", f"--json={out}"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=seconds + 60)
        doc = json.loads(out.read_text())
    per_cpu = {}
    for thread in doc["thread"].values():
        hist, cycles = thread.get("histogram", {}), thread["cycles"]
        per_cpu[str(thread["cpu"])] = {"cycles": cycles, "min_us": thread["min"], "avg_us": round(thread["avg"], 1),
                                       "p99_us": percentile(hist, cycles, 0.99),
                                       "p99_9_us": percentile(hist, cycles, 0.999), "max_us": thread["max"]}
    return per_cpu


def measure(seconds: int, interval_us: int) -> dict:
    if os.geteuid() != 0:
        sys.exit("the real-time bench needs root (mlockall, SCHED_FIFO)")
    if shutil.which("cyclictest") is None:
        sys.exit("the real-time bench needs cyclictest (apt install rt-tests; scripts/setup-debian.sh does)")
    cpus = list(range(realtime.possible_cpus()))
    runs = {"idle": cyclictest(seconds, interval_us, cpus)}
    # every CPU busy with a normal-priority spinner: what a FIFO thread sees beside ordinary work
    hogs = [multiprocessing.Process(target=_spin, daemon=True) for _ in cpus]
    for h in hogs:
        h.start()
    try:
        runs["every_cpu_busy"] = cyclictest(seconds, interval_us, cpus)
    finally:
        for h in hogs:
            h.terminate()
    isolated = realtime.isolated_now()
    return {
        "wakeup_latency_us": runs,
        "worst_max_us": {name: max(c["max_us"] for c in run.values()) for name, run in runs.items()},
        "kernel": platform.release(), "kernel_version": platform.version(),
        "preempt_rt": realtime.preempt_rt(), "isolated_cpus": isolated or "none",
        "cpu_count": len(cpus), "seconds_per_run": seconds, "interval_us": interval_us,
        "what": "cyclictest, one SCHED_FIFO 95 thread per CPU, mlockall, timer every interval_us",
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--interval-us", type=int, default=200)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.seconds, args.interval_us), indent=1))


if __name__ == "__main__":
    main()
