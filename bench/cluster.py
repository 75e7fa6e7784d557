#!/usr/bin/env python3
"""Site timings (JSON): join a founder and send mTLS heartbeats (real egret up boxes, gunicorn TLS); schedule.

Each join is the whole member side (token parsed, pinned CA fetched twice, P-256 key + CSR, POST /v1/cluster/join,
files renamed into place) against a founder running the cluster unit. Each heartbeat is one new TLS connection
with the node certificate, as the member's loop sends it. Also the cluster unit's memory (master + worker RSS).
Scheduling: one claim (filters, weighers, the Allocation insert in its serialising transaction) over 3 and 10
nodes of the fake driver, on the SQLite database a box runs (`--scheduling` runs only that part).
Site (`--site` runs only that part): create-to-ACTIVE on a 3-node site (appliance/testing/site.py: a founder and two
members joined for real, each member's compute agent over mTLS on its own loopback address; every driver the fake,
so the figure is the control plane's and the agents' cost, not a guest's boot) against a single box in the same run,
and node death to ACTIVE elsewhere (heartbeat_interval 1 s: the member's `egret up` stopped, evacuate called as soon
as the founder shows the node down, until the rebuilt server is ACTIVE on another node).
VXLAN (`--vxlan` runs only that part): bench/vxlan.py's throughput between two nodes' VMs over the tenant VXLAN vs
the plain veth underlay, in the same run.
Member footprint (`--member` runs only that part): the resident memory of the API units a box stops running when
it joins a site as a member (identity, compute, network, storage of a fresh box's `egret up`, fake drivers).
"""
from __future__ import annotations

import json
import os
import requests
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
from appliance.testing.site import Site  # noqa: E402
from bench.stats import ms  # noqa: E402
from bench.vxlan import measure as vxlan_throughput  # noqa: E402
from services.compute import models, scheduler  # noqa: E402
from services.compute.drivers.fake import FakeDriver  # noqa: E402

JOINS, HEARTBEATS = 8, 200
CLAIMS = 200
CREATES = 12



def rss_mb(state_dir: Path, unit: str) -> float:
    """Resident memory of a unit's gunicorn master and workers (the supervisor records the master's pid)."""
    pid = json.loads((state_dir / "run" / "supervisor.json").read_text())["units"][unit]["pid"]
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True, text=True)
    return round(sum(int(x) for x in out.stdout.split()) / 1024, 1)


def member_footprint(tmp: Path) -> dict:
    """RSS (MiB) of each API unit of a fresh box, which a member does not run (appliance/siterole.py), and the sum."""
    api = ["identity", "network", "storage", "compute"]
    box = RunningCloud(tmp / "member-footprint", services=api, extra_env={"EGRET_FAKE_DRIVERS": "1"})
    box.start()
    try:
        time.sleep(2)   # past the units' start-up (compute registers its node, network applies its state)
        units = {u: rss_mb(box.state_dir, u) for u in api}
    finally:
        box.stop()
    return {"member_api_units_not_run_rss_mb": {**units, "total": round(sum(units.values()), 1)}}


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


class Compute:
    """The compute API of a running box as its admin, over plain HTTP (what the openstack client sends)."""

    def __init__(self, box: RunningCloud, tmp: Path):
        self.box, self.token = box, box.admin_token()
        image = tmp / "tiny.raw"
        image.write_bytes(b"\0" * (1 << 20))
        box.openstack("image", "create", "--disk-format", "raw", "--container-format", "bare", "--public",
                      "--file", str(image), "tiny")
        box.openstack("flavor", "create", "--ram", "256", "--vcpus", "1", "--disk", "1", "bench.small")
        self.image = box.openstack_json("image", "show", "tiny")["id"]
        self.flavor = box.openstack_json("flavor", "show", "bench.small")["id"]

    def call(self, method: str, path: str, body=None) -> requests.Response:
        return requests.request(method, self.box.url("compute", "/v2.1" + path), json=body, timeout=60,
                                headers={"X-Auth-Token": self.token, "OpenStack-API-Version": "compute 2.37"})

    def create(self, name: str, zone: str | None = None) -> str:
        server = {"name": name, "imageRef": self.image, "flavorRef": self.flavor, "networks": "none"}
        if zone:
            server["availability_zone"] = zone
        resp = self.call("POST", "/servers", {"server": server})
        assert resp.status_code == 202, resp.text
        return resp.json()["server"]["id"]

    def wait_active(self, server_id: str, timeout: float = 120) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            server = self.call("GET", f"/servers/{server_id}").json()["server"]
            if server["status"] in ("ACTIVE", "ERROR"):
                assert server["status"] == "ACTIVE", server
                return server
            time.sleep(0.05)
        raise TimeoutError(f"server {server_id} not ACTIVE in {timeout} s")

    def create_to_active(self) -> dict:
        took = []
        for i in range(CREATES):
            t = time.perf_counter()
            server_id = self.create(f"bench-{i}")
            self.wait_active(server_id)
            took.append(time.perf_counter() - t)
            self.call("DELETE", f"/servers/{server_id}")     # within the project's quota of 10
        return ms(took)


def site_bench(tmp: Path) -> dict:
    single = RunningCloud(tmp / "single", services=["identity", "compute", "network", "storage"],
                          extra_env={"EGRET_FAKE_DRIVERS": "1"})
    single.start()
    try:
        one_box = Compute(single, tmp).create_to_active()
    finally:
        single.stop()
    site = Site(tmp / "site", interval=1.0)
    try:
        site.start()
        api = Compute(site.founder, tmp)
        three = api.create_to_active()
        victim = api.create("victim", zone="nova:beta")
        api.wait_active(victim)
        t = time.perf_counter()
        site.members["beta"].stop()
        site.wait(lambda: site.hypervisors()["beta"]["state"] == "down", timeout=30, step=0.05)
        down = time.perf_counter() - t
        resp = api.call("POST", f"/servers/{victim}/action", {"evacuate": {}})
        assert resp.status_code == 200, resp.text
        moved = api.wait_active(victim)
        assert moved["OS-EXT-SRV-ATTR:host"] != "beta", moved
        evacuated = time.perf_counter() - t
    finally:
        site.stop()
    return {"site_drivers": "fake drivers behind real agents (compute-agent, network-agent over mTLS), real joins",
            "create_to_active_single_box": one_box, "create_to_active_3_node_site": three,
            "node_death_to_down_s": round(down, 2), "node_death_to_active_elsewhere_s": round(evacuated, 2),
            "heartbeat_interval_s": 1.0}


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="egret-bench-cluster-"))
    # one section alone: --member, --site
    for flag, section in (("--member", member_footprint), ("--site", site_bench)):
        if flag in sys.argv:
            try:
                print(json.dumps({"bench": "cluster", **section(tmp)}, indent=1))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            return
    if "--vxlan" in sys.argv:
        print(json.dumps({"bench": "cluster", "vxlan_two_nodes": vxlan_throughput()}, indent=1))
        return
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
                          "identity_unit_rss_mb": rss_mb(founder.state_dir, "identity"), **sched,
                          **site_bench(tmp), **member_footprint(tmp), "vxlan_two_nodes": vxlan_throughput()},
                         indent=1))
    finally:
        founder.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
