"""`egret firstboot --answers` on a real box (namespace): same validation, same files, admin usable with openstack."""
from __future__ import annotations

import re
import subprocess
import tomllib

import pytest
import requests
import yaml

from fb_e2e_helpers import VENV_BIN, wait_http

pytestmark = pytest.mark.e2e
PASSWORD = "Tern-Heron-2026!"


def test_answers_file_sets_the_box_up_like_the_wizard(make_box, tmp_path):
    box = make_box()
    lan = box.lan
    answers = {
        "admin": {"password": PASSWORD},
        "box": {"hostname": "edge-e2e", "timezone": "Europe/Paris"},
        "network": {"interface": lan.nic, "mode": "static", "address": f"{lan.new_ip}/24",
                    "gateway": f"{lan.net}.99", "dns": [lan.host_ip]},
        "storage": {"assignments": {}},
        "role": {"role": "standalone"},
    }
    path = tmp_path / "answers.yaml"
    # same validation as the browser: the gateway must be inside the subnet
    path.write_text(yaml.safe_dump({**answers, "network": {**answers["network"], "gateway": "192.0.2.1"}}))
    proc = box.egret("firstboot", "--answers", path, check=False)
    assert proc.returncode == 2 and "network.gateway: The gateway 192.0.2.1 is outside the subnet" in proc.stdout
    assert lan.addresses() == [f"{lan.box_ip}/24"] and not (box.state / "etc" / "egret.toml").exists()

    path.write_text(yaml.safe_dump(answers))
    proc = box.egret("firstboot", "--answers", path, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr + box.logs()
    assert "Setup complete" in proc.stdout
    assert lan.addresses() == [f"{lan.new_ip}/24"]
    conf = tomllib.loads((box.state / "etc" / "egret.toml").read_text())
    assert conf["public_host"] == lan.new_ip and conf["bind_host"] == "0.0.0.0"
    assert conf["service"]["box"] == {"hostname": "edge-e2e", "ntp_servers": [], "timezone": "Europe/Paris"}
    assert conf["service"]["management_network"]["address"] == f"{lan.new_ip}/24"
    assert conf["service"]["cluster"] == {"role": "standalone", "node_name": "edge-e2e"}
    assert (box.root / "etc" / "hostname").read_text() == "edge-e2e\n"
    assert (box.root / "etc" / "resolv.conf").read_text() == f"nameserver {lan.host_ip}\n"
    # a second run refuses: the box is set up
    assert box.egret("firstboot", "--answers", path, check=False).returncode == 3

    # the services come up from the written configuration (as the box's units do after setup)
    log = open(tmp_path / "up.log", "wb")
    env = {k: v for k, v in box.env.items() if k not in ("EGRET_BIND_HOST",)}
    up = subprocess.Popen(box.in_ns(VENV_BIN / "egret", "up"), env=env, stdout=log, stderr=subprocess.STDOUT,
                          start_new_session=True)
    box.procs.append(up)
    wait_http(f"http://{lan.new_ip}:{box.ports['identity']}/healthz", up, tmp_path / "up.log")
    clouds = box.state / "clouds.yaml"
    doc = yaml.safe_load(clouds.read_text())
    assert doc["clouds"]["egret"]["auth"]["auth_url"] == f"http://{lan.new_ip}:{box.ports['identity']}/v3"
    proc = subprocess.run([str(VENV_BIN / "openstack"), "--os-cloud", "egret", "token", "issue", "-f", "yaml"],
                          env={"PATH": f"{VENV_BIN}:/usr/bin:/bin", "OS_CLIENT_CONFIG_FILE": str(clouds),
                               "HOME": str(tmp_path), "NO_PROXY": "*"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + (tmp_path / "up.log").read_text()
    assert yaml.safe_load(proc.stdout)["project_id"]

    # the wizard unit `egret up` started shows the set-up box: admin login (checked by identity), dashboard

    wizard = f"http://{lan.new_ip}:{box.ports['firstboot']}"
    wait_http(wizard + "/healthz", up, tmp_path / "up.log")
    s = requests.Session()
    page = s.get(wizard + "/", timeout=10)
    assert page.url.endswith("/login") and "This box is set up" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert s.post(wizard + "/login", data={"password": "wrong", "csrf": csrf}, timeout=10).status_code == 401
    done = s.post(wizard + "/login", data={"password": PASSWORD, "csrf": csrf}, timeout=10)
    assert done.url.endswith("/done") and "Service health" in done.text
    assert s.get(wizard + "/api/health", timeout=10).json()["services"][0] == {
        "unit": "identity", "service": "identity", "port": box.ports["identity"], "healthy": True,
        "detail": "HTTP 200"}
    assert yaml.safe_load(s.get(wizard + "/clouds.yaml", timeout=10).text)["clouds"]["egret"]["auth"]["password"] \
        == PASSWORD
