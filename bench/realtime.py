"""Real-time bench: wake-up latency of a SCHED_FIFO thread on every CPU (cyclictest), idle and with every CPU busy,
on this machine and inside the appliance image (generic kernel, then PREEMPT_RT with CPU 1 isolated); and the time
to apply a TSN schedule.

What a pinned real-time guest's vCPU can expect from a box's kernel: the time between a timer's expiry and the
woken thread running, per CPU, as min/avg/p99/p99.9/max in microseconds. The box's real-time profile
(appliance/realtime.py: isolated CPUs, a PREEMPT_RT kernel) is what brings the tail down; each report says which
kernel and which isolated CPUs its figures come from. The load is unpinned: on a box with isolated CPUs the
scheduler keeps it on the housekeeping ones. Inside the image the guest runs under QEMU/TCG: its figures compare
kernels and CPUs of the same emulated box, they are not hardware figures. TSN: taprio (with etf and cbs children)
on a 4-queue veth through the network driver's own code (services/network/drivers/linux/tsn_qdiscs.py), applied,
replaced and removed, each read back from the kernel; needs a kernel with taprio (the image's; not this machine's).
Needs root (mlockall, SCHED_FIFO) and rt-tests. EGRET_IMAGE reuses a built image.

    python bench/realtime.py [--seconds 10] [--interval-us 200] [--no-image]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import shutil
import subprocess
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyroute2 import NetNS  # noqa: E402
from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402

from appliance import realtime  # noqa: E402
from services.network import tsn  # noqa: E402
from services.network.drivers.linux import tsn_qdiscs  # noqa: E402

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


TSN_SCHEDULES = [
    {"qdisc": "taprio", "num_tc": 3, "priority_map": [2, 2, 1, 0] + [2] * 12,
     "queues": [{"count": 1, "offset": 0}, {"count": 1, "offset": 1}, {"count": 2, "offset": 2}],
     "base_time": 0, "clockid": "CLOCK_TAI",
     "entries": [{"gate_mask": 1, "interval": 300000}, {"gate_mask": 2, "interval": 200000},
                 {"gate_mask": 4, "interval": 500000}],
     "etf": [{"queue": 0, "delta": 200000, "clockid": "CLOCK_TAI"}],
     "cbs": [{"queue": 1, "idleslope": 20000, "sendslope": -980000, "hicredit": 30, "locredit": -1470}]},
    {"qdisc": "taprio", "num_tc": 2, "queues": [{"count": 2, "offset": 0}, {"count": 2, "offset": 2}],
     "base_time": 0, "clockid": "CLOCK_TAI",
     "entries": [{"gate_mask": 1, "interval": 250000}, {"gate_mask": 2, "interval": 750000}]},
]


def tsn_apply(repeats: int = 10) -> dict:
    """Milliseconds to apply a schedule on a link without one, to replace it with another, and to remove it."""
    netns = f"egret-bench-tsn-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run(["ip", "-n", netns, "link", "add", "tsn0", "numtxqueues", "4", "type", "veth", "peer",
                        "name", "tsn1", "numtxqueues", "4"], check=True)
        ipr = NetNS(netns)
        try:
            schedules = [tsn.normalize(s, 4) for s in TSN_SCHEDULES]
            try:
                tsn_qdiscs.apply(ipr, "tsn0", schedules[0])
            except NetlinkError as exc:
                return {"skipped": f"this kernel cannot hold the schedule ({exc}); the image's can"}
            tsn_qdiscs.apply(ipr, "tsn0", None)
            times: dict[str, list[float]] = {"apply": [], "replace": [], "remove": []}
            for _ in range(repeats):
                for step, schedule in (("apply", schedules[0]), ("replace", schedules[1]), ("remove", None)):
                    t0 = time.perf_counter()
                    if not tsn_qdiscs.apply(ipr, "tsn0", schedule):     # True: it changed, and was read back
                        raise RuntimeError(f"{step}: the kernel already held {schedule}")
                    times[step].append((time.perf_counter() - t0) * 1000)
        finally:
            ipr.close()
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
    return {step: {"median_ms": round(statistics.median(v), 2), "max_ms": round(max(v), 2)} for step, v in times.items()
            } | {"repeats": repeats, "what": "taprio 3 traffic classes + etf + cbs on a 4-queue veth, then a "
                                                 "2-class taprio, then none; each read back from the kernel"}


def inside(seconds: int, interval_us: int) -> dict:
    return {**measure(seconds, interval_us), "tsn_apply": tsn_apply()}


# the image's late hook (images/testlayer.py), run at each boot: measure, then put the real-time profile in place
# (CPU 1 isolated, PREEMPT_RT) and reboot into it; measure again. The hook's lines reach the console through kmsg,
# whose records hold about 1 KB: the JSON comes in chunks, then an end line
IMAGE_HOOK = r"""
modprobe 9pnet_virtio 2>/dev/null; mkdir -p /mnt/share
mountpoint -q /mnt/share || mount -t 9p -o trans=virtio,version=9p2000.L,ro egretshare /mnt/share
run() {
  /opt/egret/bin/python /mnt/share/realtime.py --inside $(cat /mnt/share/args) > /run/bench-rt.json 2>/run/bench-rt.err \
    || tail -n 5 /run/bench-rt.err > /run/bench-rt.json
  fold -w 700 /run/bench-rt.json | sed "s/^/bench-rt $1 /"; echo "bench-rt-end $1"
}
if [ -e /var/lib/egret/bench-rt-profile ]; then
  run profile
  exit 0
fi
run generic
mkdir -p /var/lib/egret/config
printf '[service.realtime]
enabled = true
isolated_cpus = "1"
' > /var/lib/egret/config/realtime.toml
egret realtime apply >/dev/null && touch /var/lib/egret/bench-rt-profile && sync && systemctl reboot
"""


def in_image(seconds: int, interval_us: int, smp: int = 2) -> dict:
    """Boot the appliance image (its hooks layer) twice under QEMU/TCG and measure inside, generic then profile."""
    sys.path.insert(0, str(ROOT / "bench"))
    from boot import ensure, with_hooks  # the boot bench's image (built when missing) and its hook layer
    from egret_qemu import Guest

    image = with_hooks(ensure("EGRET_IMAGE", ROOT / "artifacts" / "image" / "egret-amd64.raw", []))
    with tempfile.TemporaryDirectory(prefix="egret-bench-rt-") as tmp:
        share = Path(tmp) / "share"
        share.mkdir()
        shutil.copy(__file__, share / "realtime.py")
        (share / "args").write_text(f"--seconds {seconds} --interval-us {interval_us}\n")
        g = Guest(image, Path(tmp), "rt", smp=smp, mem=2048, share=share)
        g.set_hook("late", IMAGE_HOOK)
        g.start()
        try:
            budget = 900 + 4 * seconds
            g.wait_for(r"bench-rt-end profile", budget, g.wait_for(r"bench-rt-end generic", budget).end())
            text = g.text()
        finally:
            g.stop()
    runs = {}
    for name, boot in (("generic_kernel", "generic"), ("rt_kernel_cpu1_isolated", "profile")):
        found = "".join(re.findall(rf"EGRET-HOOK late: bench-rt {boot} ([^\r\n]*)", text))
        try:
            runs[name] = json.loads(found)
        except ValueError:
            runs[name] = {"error": found.strip()[:500]}
    return {"accel": "tcg", "smp": smp, "mem_mb": 2048, **runs}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--interval-us", type=int, default=200)
    parser.add_argument("--no-image", action="store_true", help="this machine only")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)    # the image's hook: one line
    args = parser.parse_args(argv)
    if args.inside:
        print(json.dumps(inside(args.seconds, args.interval_us), separators=(",", ":")))
        return
    result = {"bench": "realtime", "host": inside(args.seconds, args.interval_us)}
    if not args.no_image:
        result["image"] = in_image(args.seconds, args.interval_us)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
