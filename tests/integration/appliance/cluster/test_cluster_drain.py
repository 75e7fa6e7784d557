"""`egret cluster drain NODE` against a running cloud: the CLI logs in with the admin's clouds.yaml, finds compute in
the catalog and disables the node over real HTTP (the moves themselves: tests/unit/compute/test_migrate.py)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests
import yaml

from appliance.testing.cloud import RunningCloud

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    cloud = RunningCloud(tmp_path_factory.mktemp("drain") / "box", services=["identity", "compute"],
                         extra_env={"EGRET_FAKE_DRIVERS": "1"})
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()


def _services(box) -> list:
    resp = requests.get(box.url("compute", "/v2.1/os-services"), timeout=10,
                        headers={"X-Auth-Token": box.admin_token(), "OpenStack-API-Version": "compute 2.53"})
    assert resp.status_code == 200, resp.text
    return resp.json()["services"]


def test_drain_disables_the_node_through_the_running_api(box):
    host = _services(box)[0]["host"]
    proc = box.egret("cluster", "drain", host, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == {"node": host, "moved": [], "failed": []}
    svc = next(s for s in _services(box) if s["host"] == host)
    assert svc["status"] == "disabled" and svc["disabled_reason"] == "draining"
    missing = box.egret("cluster", "drain", "no-such-node")
    assert missing.returncode == 1 and "no compute node 'no-such-node'" in missing.stderr
    (box.state_dir / "clouds.yaml").rename(box.state_dir / "clouds.yaml.away")
    try:
        anonymous = box.egret("cluster", "drain", host)
        assert anonymous.returncode == 1 and "no admin credentials" in anonymous.stderr
    finally:
        (box.state_dir / "clouds.yaml.away").rename(box.state_dir / "clouds.yaml")


def test_a_clouds_yaml_without_the_password_takes_os_password(box):
    """A site member's clouds.yaml names the site's API without the founder's admin password."""
    host = _services(box)[0]["host"]
    path = box.state_dir / "clouds.yaml"
    original = path.read_text()
    doc = yaml.safe_load(original)
    del doc["clouds"]["egret"]["auth"]["password"]
    path.write_text(yaml.safe_dump(doc))
    env = {k: v for k, v in box.env.items() if k != "OS_PASSWORD"}

    def drain(extra):
        return subprocess.run([sys.executable, "-m", "appliance.cli", "cluster", "drain", host, "--json"],
                              env={**env, **extra}, capture_output=True, text=True, timeout=120)
    try:
        bare = drain({})
        assert bare.returncode == 1 and "give it as OS_PASSWORD" in bare.stderr, bare.stdout + bare.stderr
        wrong = drain({"OS_PASSWORD": "not-the-password"})
        assert wrong.returncode == 1 and "identity refused the admin" in wrong.stderr, wrong.stderr
        assert "not-the-password" not in wrong.stdout + wrong.stderr   # secrets never printed
        given = drain({"OS_PASSWORD": box.password})
        assert given.returncode == 0 and json.loads(given.stdout)["node"] == host, given.stdout + given.stderr
    finally:
        path.write_text(original)
