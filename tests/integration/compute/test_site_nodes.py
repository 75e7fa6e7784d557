"""A site's control plane under `egret up` (cluster, compute, compute agent; fake drivers): a member that heartbeats
becomes a compute node reached through its agent over mTLS, goes down within the documented bound when it falls
silent, and its removal asks the running compute API first."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from appliance import config, pki
from appliance.cluster import membership, models
from appliance.db import open_service_database
from appliance.testing.cloud import RunningCloud

pytestmark = pytest.mark.integration
INTERVAL = 1.0


@pytest.fixture(scope="module")
def founder(tmp_path_factory):
    box = RunningCloud(tmp_path_factory.mktemp("site") / "alpha",
                       services=["identity", "cluster", "compute", "compute-agent"],
                       extra_env={"EGRET_FAKE_DRIVERS": "1"})
    (box.state_dir / "etc").mkdir(parents=True)
    (box.state_dir / "etc" / "egret.toml").write_text(
        f'[service.cluster]\nnode_name = "alpha"\nheartbeat_interval = {INTERVAL}\n')
    settings = config.load(env=box.env)
    membership.found(settings, "edge")
    box.start()
    try:
        yield box, settings
    finally:
        box.stop()


def _admit(settings, tmp_path, name: str) -> tuple:
    """A member as the founder records one after a join (its row, a certificate from the site CA): the join itself
    is test_join_real's; here the member is the founder's own agent, reached at 127.0.0.1."""
    key, csr = pki.new_key_and_csr(name)
    cert = membership.box_ca(settings).issue(csr, name, sans=["127.0.0.1"])
    crt_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    crt_path.write_text(cert)
    pki.write_private(key_path, key)
    open_service_database(settings, "cluster", models.database, migrations=False)
    with models.database.connection_context():
        models.Node.create(name=name, address=f"127.0.0.1:{settings.port('cluster')}",
                           cert_fingerprint=pki.fingerprint(cert), last_seen=membership.now())
    return crt_path, key_path


def _hypervisors(box) -> dict:
    resp = requests.get(box.url("compute", "/v2.1/os-hypervisors/detail"), timeout=10,
                        headers={"X-Auth-Token": box.admin_token(), "OpenStack-API-Version": "compute 2.53"})
    assert resp.status_code == 200, resp.text
    return {h["hypervisor_hostname"]: h for h in resp.json()["hypervisors"]}


def _wait(what, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.25)
    return what()


def test_a_member_becomes_a_node_goes_down_and_is_removed(founder, tmp_path):
    box, settings = founder
    cert = _admit(settings, tmp_path, "beta")
    ca_pem = membership.site_ca_pem(settings)
    beating = threading.Event()
    beating.set()

    def heartbeats():
        while beating.is_set():
            try:
                pki.request("POST", f"https://127.0.0.1:{settings.port('cluster')}/v1/cluster/heartbeat",
                            ca_pem=ca_pem, cert=cert, body={"health": {"compute-agent": True}})
            except pki.PeerError:
                pass
            time.sleep(INTERVAL / 2)
    thread = threading.Thread(target=heartbeats, daemon=True)
    thread.start()
    try:
        up = _wait(lambda: _hypervisors(box).get("beta", {}).get("state") == "up")
        assert up, (_hypervisors(box), box.logs())
        beta = _hypervisors(box)["beta"]
        # its capacity is what the node's agent reported (the fake driver's), its address the member's
        assert beta["hypervisor_type"] == "FAKE" and beta["vcpus"] == 64 and beta["status"] == "enabled"
    finally:
        beating.clear()
        thread.join()
    silent = time.time()
    down = _wait(lambda: _hypervisors(box)["beta"]["state"] == "down", timeout=20)
    took = time.time() - silent
    # the bound: 3 heartbeat intervals (the cluster's offline rule) + 1 (the registry's round), plus a heartbeat
    # that may have landed just before the silence and a little scheduling slack
    assert down and took <= 4 * INTERVAL + 2.5, (took, _hypervisors(box))
    print(f"\nnode down {took:.1f} s after its last heartbeat (interval {INTERVAL} s)")

    # the node hosts no servers: the cluster unit asked the running compute API, which said so
    admin = {"X-Auth-Token": box.admin_token()}
    r = requests.delete(f"https://127.0.0.1:{settings.port('cluster')}/v1/cluster/nodes/beta", headers=admin,
                        verify=False, timeout=20)
    assert r.status_code == 204, r.text
    assert _hypervisors(box)["beta"]["state"] == "down"   # its row stays (servers would still name it)
