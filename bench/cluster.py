#!/usr/bin/env python3
"""Site timings (JSON): join a founder and send mTLS heartbeats (real egret up boxes, gunicorn TLS); schedule.

Each join is the whole member side (token parsed, pinned CA fetched twice, P-256 key + CSR, POST /v1/cluster/join,
files renamed into place) against a founder running the cluster unit. Each heartbeat is one new TLS connection
with the node certificate, as the member's loop sends it. Also the cluster unit's memory (master + worker RSS).
Scheduling: one claim (filters, weighers, the Allocation insert in its serialising transaction) over 3 and 10
nodes of the fake driver, on the SQLite database a box runs (`--scheduling` runs only that part).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance import config, pki  # noqa: E402
from appliance.cluster import membership  # noqa: E402
from appliance.cluster.join import join  # noqa: E402
from appliance.db import open_service_database  # noqa: E402
from appliance.testing.cloud import RunningCloud  # noqa: E402
from bench.stats import ms  # noqa: E402
from services.compute import models, scheduler  # noqa: E402
from services.compute.drivers.fake import FakeDriver  # noqa: E402

JOINS, HEARTBEATS = 8, 200
CLAIMS = 200



def rss_mb(state_dir: Path, unit: str) -> float:
    """Resident memory of a unit's gunicorn master and workers (the supervisor records the master's pid)."""
    pid = json.loads((state_dir / "run" / "supervisor.json").read_text())["units"][unit]["pid"]
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True, text=True)
    return round(sum(int(x) for x in out.stdout.split()) / 1024, 1)


def scheduling(nodes: int, tmp: Path) -> dict:
    """p50/p95 of a claim with `nodes` fake nodes; servers come and go so the nodes stay half full."""
    settings = config.load(env={**os.environ, "EGRET_STATE_DIR": str(tmp / f"sched{nodes}")})
    database = models.database
    open_service_database(settings, "compute", database)
    section = {"ram_allocation_ratio": 1.0}
    with database.connection_context():
        for i in range(nodes):
            driver = FakeDriver()
            driver.caps.hostname = f"node{i}"
            scheduler.register(f"node{i}", driver.host_caps(), section)
        flavor = {"vcpus": 1, "ram": 2048, "disk": 1, "extra_specs": {}}
        live, took = [], []
        for n in range(CLAIMS):
            inst = models.Instance.create(name=f"vm{n}", project_id="p", user_id="u", flavor=flavor)
            t = time.perf_counter()
            scheduler.claim(inst, section)
            took.append(time.perf_counter() - t)
            live.append(inst.id)
            if len(live) > 40:
                scheduler.release(live.pop(0))
    database.obj.close()
    return ms(took)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="egret-bench-cluster-"))
    sched = {f"schedule_claim_{n}_nodes": scheduling(n, tmp) for n in (3, 10)}
    if "--scheduling" in sys.argv:
        print(json.dumps({"bench": "cluster", **sched}, indent=1))
        shutil.rmtree(tmp, ignore_errors=True)
        return
    founder = RunningCloud(tmp / "founder", services=["identity", "cluster"])
    t0 = time.perf_counter()
    founder.start()
    started = time.perf_counter() - t0
    try:
        settings = config.load(env=founder.env)
        membership.found(settings, "bench")
        joins = []
        for i in range(JOINS):
            out = subprocess.run([sys.executable, "-m", "appliance.cli", "join-token"], env=founder.env,
                                 capture_output=True, text=True, check=True)
            node = config.load(env={**founder.env, "EGRET_STATE_DIR": str(tmp / f"node{i}")})
            t = time.perf_counter()
            join(node, out.stdout.splitlines()[0], name=f"node{i}", address=f"127.0.0.1:{10000 + i}")
            joins.append(time.perf_counter() - t)
        url = f"https://127.0.0.1:{founder.ports['cluster']}/v1/cluster/heartbeat"
        ca_pem = membership.site_ca_pem(settings)
        cert = membership.node_certificate(node)
        beats = []
        for _ in range(HEARTBEATS):
            t = time.perf_counter()
            pki.request("POST", url, ca_pem=ca_pem, cert=cert, body={"health": {"identity": True}})
            beats.append(time.perf_counter() - t)
        print(json.dumps({"bench": "cluster", "founder_start_s": round(started, 2), "join": ms(joins),
                          "heartbeat_mtls": ms(beats), "cluster_unit_rss_mb": rss_mb(founder.state_dir, "cluster"),
                          "identity_unit_rss_mb": rss_mb(founder.state_dir, "identity"), **sched}, indent=1))
    finally:
        founder.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
