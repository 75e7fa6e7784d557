"""First-boot wizard figures (fakes for the system layer, identity and supervisor): prints JSON."""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.testing.plugin import make_settings  # noqa: E402
from firstboot import create_app, hardware  # noqa: E402
from firstboot.fakes import FakeIdentity, FakeServices  # noqa: E402
from firstboot.system.fake import FakeSystem  # noqa: E402

PASSWORD = "Correct-Horse-9"


def walk(tmp: Path) -> dict:
    settings = make_settings(tmp / "state", service={"firstboot": {"network_apply_delay": 0}})
    t0 = time.perf_counter()
    app = create_app(settings, system=FakeSystem(tmp / "root"), identity=FakeIdentity(), services=FakeServices())
    t_app = time.perf_counter() - t0
    wizard = app.extensions["egret.firstboot"]
    code = wizard.code.issue()
    c = app.test_client()
    t0 = time.perf_counter()
    c.post("/api/unlock", json={"code": code})
    t_unlock = time.perf_counter() - t0
    pages = {}
    t0 = time.perf_counter()
    c.post("/api/steps/admin", json={"password": PASSWORD, "password_confirm": PASSWORD})
    c.post("/api/steps/box", json={"hostname": "edge-01", "timezone": "UTC"})
    token = c.post("/api/steps/network", json={"interface": "eth0", "mode": "static", "address": "192.168.1.30/24",
                                               "gateway": "192.168.1.1"}).json["trial"]["token"]
    c.post("/api/network/confirm", json={"token": token}, base_url="http://192.168.1.30")
    c.post("/api/steps/storage", json={"assignments": {"volumes": "sdb"}})
    c.post("/api/steps/role", json={"role": "standalone"})
    c.post("/api/steps/apply", json={})
    wizard.runner._thread.join()
    t_walk = time.perf_counter() - t0
    assert wizard.runner.progress()["status"] == "done"
    for name in ("box", "network", "storage", "role"):
        samples = []
        for _ in range(20):
            t = time.perf_counter()
            c.get(f"/api/steps/{name}")
            samples.append(time.perf_counter() - t)
        pages[name] = round(statistics.median(samples) * 1000, 2)
    return {"create_app_ms": round(t_app * 1000, 1), "unlock_ms": round(t_unlock * 1000, 1),
            "api_walk_and_apply_ms": round(t_walk * 1000, 1), "step_get_p50_ms": pages}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        result = walk(Path(tmp))
    t = time.perf_counter()
    nics = hardware.list_interfaces()
    result["discover_nics_ms"] = round((time.perf_counter() - t) * 1000, 1)
    t = time.perf_counter()
    disks = hardware.list_disks()
    result["discover_disks_ms"] = round((time.perf_counter() - t) * 1000, 1)
    result.update(nics=len(nics), disks=len(disks))
    print(json.dumps({"bench": "firstboot", **result}, indent=1))


if __name__ == "__main__":
    main()
