"""`egret firstboot --answers` enrols a box in a real federation hub; the box then dials home over mTLS."""
from __future__ import annotations

import subprocess
import time

import pytest
import requests
import yaml

from appliance import config, federation_site, jointoken
from appliance.testing.cloud import RunningCloud
from fb_e2e_helpers import VENV_BIN

pytestmark = pytest.mark.e2e
PASSWORD = "Tern-Heron-2026!"


@pytest.fixture
def hub(tmp_path, lan):
    """A federation hub on the operator's side of the LAN (root namespace), reached by the box at lan.host_ip."""
    hub = RunningCloud(tmp_path / "hub", services=["identity", "federation"], extra_env={"EGRET_BIND_HOST": "0.0.0.0"})
    (hub.state_dir / "etc").mkdir(parents=True)
    (hub.state_dir / "etc" / "egret.toml").write_text(
        f'[service.federation]\npublic_url = "https://{lan.host_ip}:{hub.ports["federation"]}"\n'
        'report_interval = 2\n')
    hub.start()
    yield hub
    hub.stop()


def _answers(lan, role: dict) -> dict:
    return {"admin": {"password": PASSWORD}, "box": {"hostname": "edge-far", "timezone": "UTC"},
            "network": {"interface": lan.nic, "mode": "static", "address": f"{lan.new_ip}/24",
                        "gateway": lan.host_ip, "dns": [lan.host_ip]},
            "storage": {"assignments": {}}, "role": role}


def test_enrol_in_a_hub_from_an_answers_file(make_box, hub, tmp_path):
    out = hub.egret("enrol-token")
    assert out.returncode == 0, out.stdout + out.stderr
    token = out.stdout.strip().splitlines()[-1]
    hub_url = jointoken.parse("enrol", token)["hub_url"]

    box = make_box()
    box.services = ["identity", "cluster", "firstboot"]
    box.service_settings = {"cluster": {"heartbeat_interval": 1}}
    path = tmp_path / "answers.yaml"
    # a token for another hub URL is refused by validation, before anything changes
    path.write_text(yaml.safe_dump(_answers(box.lan, {"role": "enrol", "hub_url": "https://192.0.2.7:8119",
                                                      "token": token, "fingerprint_confirmed": True})))
    proc = box.egret("firstboot", "--answers", path, check=False)
    assert proc.returncode == 2 and "role.hub_url" in proc.stdout and "issued by the hub at" in proc.stdout, \
        proc.stdout
    assert box.lan.addresses() == [f"{box.lan.box_ip}/24"]

    path.write_text(yaml.safe_dump(_answers(box.lan, {"role": "enrol", "hub_url": hub_url, "token": token,
                                                      "fingerprint_confirmed": True})))
    proc = box.egret("firstboot", "--answers", path, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr + box.logs()
    record = federation_site.enrolment(config.load(env=box.env))
    assert record["site"] == "edge-far" and record["hub_url"] == hub_url

    # the box's units come up from the written configuration; its cluster unit dials home
    log = open(tmp_path / "up.log", "wb")
    up = subprocess.Popen(box.in_ns(VENV_BIN / "egret", "up"), env=box.env, stdout=log, stderr=subprocess.STDOUT,
                          start_new_session=True)
    box.procs.append(up)
    admin = {"X-Auth-Token": hub.admin_token()}
    deadline, site = time.time() + 120, {}
    while time.time() < deadline:
        r = requests.get(f"https://127.0.0.1:{hub.ports['federation']}/v1/sites/edge-far", headers=admin,
                         verify=False, timeout=10)
        assert r.status_code == 200, r.text
        site = r.json()["site"]
        if site.get("status") == "online" and (site.get("health") or {}).get("identity"):
            break
        time.sleep(1)
    assert site.get("status") == "online", (site, (tmp_path / "up.log").read_text()[-3000:])
    assert site["health"] == {"identity": True} and site["inventory"]["node"] == "edge-far", site
    assert site["inventory"]["cluster_role"] == "standalone"
