"""PTP between two network namespaces: two timing services (grandmaster and ordinary clock), each running real ptp4l
on one end of a veth with software time stamps, set up through the admin API; the ordinary clock finds the
grandmaster and reports its offset and path delay through pmc, its metrics and `egret status`.

Both clocks are this machine's one system clock, which a test must not steer: the profiles measure only
(steer_clock: false, ptp4l's free_running). phc2sys does not run: it needs a NIC's hardware clock, and software
time stamping has none (services/timing/profile.py needs_phc2sys)."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.testing.plugin import make_settings

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ptp4l"),
                                reason="needs root for namespaces and linuxptp (make setup installs it)")


def sh(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


@pytest.fixture
def wire():
    """Two namespaces joined by a veth: <tag>a/pa (10.99.0.1) and <tag>b/pb (10.99.0.2)."""
    tag = "ptp" + secrets.token_hex(2)
    a, b = tag + "a", tag + "b"
    for ns in (a, b):
        sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", "name", tag + "x", "type", "veth", "peer", "name", tag + "y")
    for ns, dev, addr in ((a, tag + "x", "10.99.0.1/24"), (b, tag + "y", "10.99.0.2/24")):
        sh("ip", "link", "set", dev, "netns", ns)
        sh("ip", "-n", ns, "link", "set", dev, "name", "p" + ns[-1])
        sh("ip", "-n", ns, "addr", "add", addr, "dev", "p" + ns[-1])     # PTP over UDPv4 (multicast)
        sh("ip", "-n", ns, "link", "set", "p" + ns[-1], "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    yield a, b
    for ns in (a, b):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def timing_app(state_dir, netns, settings):
    from services.timing import create_app
    own = make_settings(state_dir, service={"timing": {"netns": netns, "poll_interval": 0.5}})
    shutil.copytree(settings.key_repository, own.key_repository, dirs_exist_ok=True)  # the same tokens
    app = create_app(own)
    return app, own


def test_ordinary_clock_follows_the_grandmaster(wire, settings, mint_token, tmp_path):
    a, b = wire
    admin = {"X-Auth-Token": mint_token(user_id="admin", project_id="p-admin", roles=["admin", "member"])}
    member = {"X-Auth-Token": mint_token(user_id="u1", project_id="p1", roles=["member"])}
    master, master_settings = timing_app(tmp_path / "gm", a, settings)
    slave, slave_settings = timing_app(tmp_path / "oc", b, settings)
    try:
        gm, oc = master.test_client(), slave.test_client()
        assert oc.get("/v1/ptp", headers=member).status_code == 403
        assert oc.put("/v1/ptp", json={"ptp": {"enabled": True}}, headers=member).status_code == 403
        # a profile that cannot run is refused by field and changes nothing
        resp = oc.put("/v1/ptp", json={"ptp": {"enabled": True, "role": "boundary", "interfaces": ["pb"]}},
                      headers=admin)
        assert resp.status_code == 400 and "interfaces" in resp.get_json()["error"]["message"]
        # so is one the NIC cannot stamp (a veth has software time stamps only), or an interface not there
        for body, words in (({"interfaces": ["pb"], "timestamping": "hardware"},
                             "timestamping: pb has no hardware time stamping"),
                            ({"interfaces": ["eth7"], "timestamping": "software"},
                             "interfaces: this node has no interface 'eth7'")):
            resp = oc.put("/v1/ptp", json={"ptp": {"enabled": True, **body}}, headers=admin)
            assert resp.status_code == 400 and words in resp.get_json()["error"]["message"], resp.get_json()
        assert oc.get("/v1/ptp", headers=admin).get_json()["ptp"]["enabled"] is False

        common = {"enabled": True, "timestamping": "software", "steer_clock": False, "profile": "default"}
        resp = gm.put("/v1/ptp", json={"ptp": {**common, "role": "grandmaster", "interfaces": ["pa"]}},
                      headers=admin)
        assert resp.status_code == 200, resp.get_json()
        doc = oc.put("/v1/ptp", json={"ptp": {**common, "role": "ordinary", "interfaces": ["pb"]}},
                     headers=admin).get_json()["ptp"]
        assert set(doc["state"]["processes"]) == {"ptp4l"}          # no PHC, no phc2sys

        # the first path delay needs a few delay request/response rounds after the master is chosen
        deadline, clock = time.monotonic() + 90, {}
        while time.monotonic() < deadline:
            clock = oc.get("/v1/ptp", headers=admin).get_json()["ptp"]["state"]["clock"]
            master_clock = gm.get("/v1/ptp", headers=admin).get_json()["ptp"]["state"]["clock"]
            if clock.get("gm_present") and clock.get("mean_path_delay_ns", 0) > 0:
                break
            time.sleep(0.5)
        print(json.dumps({"ordinary": clock, "grandmaster": master_clock}), file=sys.stderr)
        assert clock.get("gm_present") is True, clock
        assert master_clock["port_states"] == {"1": "MASTER"}, master_clock
        # the grandmaster it follows is the other box's clock, one step away; unsteered, its port stays
        # UNCALIBRATED (SLAVE once the servo locks), and it measures the path and the offset all the same
        assert clock["gm_identity"] == master_clock["gm_identity"] and clock["steps_removed"] == 1, clock
        assert clock["port_states"] == {"1": "UNCALIBRATED"}, clock
        assert clock["mean_path_delay_ns"] > 0 and clock["offset_ns"] == clock["master_offset_ns"], clock
        metrics = oc.get("/metrics").get_data(as_text=True)
        assert 'egret_ptp_process_up{process="ptp4l"} 1.0' in metrics
        assert "egret_ptp_offset_seconds" in metrics and "egret_ptp_mean_path_delay_seconds" in metrics
        assert 'egret_ptp_port_state{port="1",state="' in metrics

        # `egret status` on the ordinary clock's box shows the profile and the port's state
        env = {**os.environ, "EGRET_CONFIG_DIR": str(slave_settings.state_dir / "etc")}
        egret = str(Path(sys.executable).parent / "egret")
        out = subprocess.run([egret, "--state-dir", str(slave_settings.state_dir), "status"], capture_output=True,
                             text=True, env=env, timeout=60).stdout
        assert "PTP default ordinary (software time stamps) on pb: port 1 UNCALIBRATED; offset " in out, out
        assert "measuring only" in out, out

        # ptp4l that dies is restarted
        pid = oc.get("/v1/ptp", headers=admin).get_json()["ptp"]["state"]["processes"]["ptp4l"]["pid"]
        os.kill(pid, 9)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            doc = oc.get("/v1/ptp", headers=admin).get_json()["ptp"]["state"]["processes"]["ptp4l"]
            if doc["restarts"] == 1 and doc["pid"]:
                break
            time.sleep(0.5)
        assert doc["restarts"] == 1 and doc["pid"] and doc["pid"] != pid, doc
    finally:
        master.extensions["egret.manager"].close()
        slave.extensions["egret.manager"].close()
    # closed: no ptp4l of ours is left
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert left == [], left
