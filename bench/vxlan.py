"""VXLAN bench: throughput between VMs on two nodes over the tenant VXLAN vs the plain veth underlay, same run.

Two nodes are network namespaces joined by a veth pair, each running the real Linux driver (one process inside its
namespace) with the other as its only VTEP peer; a VM namespace per node sits on the tenant network
(tests/integration/network/vxlan_nodes.py). Prints one JSON document. Needs root. Throughput is bench/network.py's
Python socket pump (no iperf3 here), median of `--runs` (default 3) runs of 2 s each.

    python bench/vxlan.py [--runs N]
"""
from __future__ import annotations

import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration" / "network"))

from bench.network import pump  # noqa: E402
from vxlan_nodes import TwoNodes  # noqa: E402


def measure(runs: int = 3) -> dict:
    """Throughput VM to VM over the tenant VXLAN and over the plain veth underlay, interleaved in one run."""
    if os.geteuid() != 0:
        sys.exit("the VXLAN bench needs root (namespaces)")
    tag = "eb" + secrets.token_hex(2)
    with tempfile.TemporaryDirectory() as tmp:
        nodes = TwoNodes(tag, Path(tmp), vni=45000 + int(tag[2:], 16) % 5000)
        try:
            t0 = time.monotonic()
            nodes.apply()
            setup = time.monotonic() - t0
            vm1, vm2 = nodes.vms
            n1, n2 = nodes.nodes
            t0 = time.monotonic()
            while not vm1.ping(vm2.ip, count=1, wait=0.5):
                if time.monotonic() - t0 > 20:
                    raise RuntimeError("the VMs never reached each other over the VXLAN")
            samples = {"plain_veth_underlay": [], "vxlan_vm_to_vm": []}
            for i in range(runs):
                # interleaved, so a background load spike hits both sides alike
                samples["plain_veth_underlay"].append(pump(n1.netns, n2.netns, n2.ip, 7100 + i))
                samples["vxlan_vm_to_vm"].append(pump(vm1.netns, vm2.netns, vm2.ip, 7200 + i))
            med = {k: statistics.median(v) for k, v in samples.items()}
            rtt = vm1.run("ping", "-c", "20", "-i", "0.05", "-q", vm2.ip).stdout.splitlines()[-1]
            return {
                "throughput_mbit_s": {k: {"median": round(med[k], 1), "runs": v} for k, v in samples.items()},
                "vxlan_vs_veth": round(med["vxlan_vm_to_vm"] / med["plain_veth_underlay"], 3),
                "vm_to_vm_rtt": rtt.split("=")[-1].strip(),
                "tenant_mtu": nodes.network.mtu, "underlay_mtu": 1500,
                "first_apply_both_nodes_s": round(setup, 3),          # includes starting the driver processes
                "what": "TCP, one stream, Python sender/receiver, 2 s per run; nodes are netns on one host",
                "cpu_count": os.cpu_count(),
            }
        finally:
            nodes.close()


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 3
    print(json.dumps(measure(runs), indent=1))


if __name__ == "__main__":
    main()
