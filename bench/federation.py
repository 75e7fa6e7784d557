#!/usr/bin/env python3
"""Federation hub timings (JSON): enrolment and mTLS dial-home reports against a real hub (egret up, gunicorn TLS).

Each enrolment: token issued through the API (admin token), then the site side in full (pinned CA fetch twice,
P-256 key + CSR, POST /v1/enrol, files renamed into place). Each report is one new TLS connection with the site's
client certificate, as the site's loop sends it. Reports run sequentially and from N concurrent sites.
"""
from __future__ import annotations

import json
import shutil
import ssl
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance import federation_site  # noqa: E402
from appliance.testing.cloud import RunningCloud  # noqa: E402
from bench.stats import ms  # noqa: E402
from appliance.testing.plugin import make_settings  # noqa: E402

SITES, REPORTS, CONCURRENT = 8, 200, 4


def issue(hub, admin) -> str:
    ctx = ssl._create_unverified_context()  # the bench measures the site side; the tests check trust
    req = urllib.request.Request(f"https://127.0.0.1:{hub.ports['federation']}/v1/enrolment-tokens", data=b"{}",
                                 headers={"X-Auth-Token": admin, "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30, context=ctx) as resp:
        return json.loads(resp.read())["token"]



def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="egret-bench-fed-"))
    t0 = time.perf_counter()
    hub = RunningCloud(tmp / "hub", services=["identity", "federation"]).start()
    started = time.perf_counter() - t0
    try:
        admin = hub.admin_token()
        sites, enrol_times = [], []
        for i in range(SITES):
            token = issue(hub, admin)
            settings = make_settings(tmp / f"site{i}")
            t = time.perf_counter()
            federation_site.enrol(settings, token, site_name=f"bench-{i}")
            enrol_times.append(time.perf_counter() - t)
            sites.append(settings)
        health, inventory = {"identity": True, "compute": True}, {"servers": 12, "vcpus": 24}
        report_times = []
        for i in range(REPORTS):
            t = time.perf_counter()
            federation_site.report(sites[i % SITES], health, inventory)
            report_times.append(time.perf_counter() - t)

        def one(i):
            federation_site.report(sites[i % SITES], health, inventory)

        t = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENT) as pool:
            list(pool.map(one, range(REPORTS)))
        concurrent = time.perf_counter() - t
        print(json.dumps({"hub_start_s": round(started, 2), "enrol": ms(enrol_times),
                          "report_sequential": ms(report_times),
                          "report_concurrent": {"sites": CONCURRENT, "n": REPORTS,
                                                "per_s": round(REPORTS / concurrent, 1)}}, indent=1))
    finally:
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
