"""A site's control plane under `egret up` (cluster, compute, compute agent; fake drivers): a member that heartbeats
becomes a compute node reached through its agent over mTLS, goes down within the documented bound when it falls
silent, destroys a deleted server's guest when it comes back, and its removal asks the running compute API first."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from appliance import pki
from appliance.cluster import membership, models
from appliance.db import open_service_database
from appliance.testing.site import Site
from services.compute import models as compute_models
from services.compute.drivers import base
from services.compute.drivers.remote import RemoteDriver
from tests.integration.compute.founder_support import founded_box

pytestmark = pytest.mark.integration
INTERVAL = 1.0


@pytest.fixture(scope="module")
def founder(tmp_path_factory):
    with founded_box(tmp_path_factory.mktemp("site") / "alpha", ["identity", "cluster", "compute", "compute-agent"],
                     f"heartbeat_interval = {INTERVAL}\n") as running:
        yield running


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


_wait = Site.wait   # what() until it is true, else its last value once the timeout has passed


class Heartbeats:
    """The member's cluster unit, as far as the founder can tell: a heartbeat every half interval while running."""

    def __init__(self, settings, cert):
        self.url = f"https://127.0.0.1:{settings.port('cluster')}/v1/cluster/heartbeat"
        self.ca_pem, self.cert = membership.site_ca_pem(settings), cert
        self.running, self.thread = threading.Event(), None

    def start(self):
        self.running.set()
        self.thread = threading.Thread(target=self._beat, daemon=True)
        self.thread.start()

    def stop(self):
        self.running.clear()
        self.thread.join()

    def _beat(self):
        while self.running.is_set():
            try:
                pki.request("POST", self.url, ca_pem=self.ca_pem, cert=self.cert,
                            body={"health": {"compute-agent": True}})
            except pki.PeerError:
                pass
            time.sleep(INTERVAL / 2)


# a domain is its node's prefix + its server's id (how a returning node's sweep finds the server)
KEPT, GONE = "7c0e1a6e-0000-4000-8000-00000000000a", "7c0e1a6e-0000-4000-8000-00000000000b"


def _server(settings, name: str, **fields) -> str:
    """A server row on a node, as the compute API left it (the compute process reads the same database)."""
    open_service_database(settings, "compute", compute_models.database, migrations=False)
    with compute_models.database.connection_context():
        row = {"vm_state": "active", "power_state": 1, **fields}
        return compute_models.Instance.create(name=name, project_id="p-x", user_id="u-x", flavor={"vcpus": 1},
                                              **row).id


def _spec(name: str) -> base.GuestSpec:
    return base.GuestSpec(name=name, uuid="7c0e1a6e-0000-4000-8000-000000000002", vcpus=1, memory_mb=64,
                          disks=[base.DiskSpec(path="/nowhere/disk", target="vda")], vifs=[])


def test_a_member_becomes_a_node_goes_down_comes_back_and_is_removed(founder, tmp_path):
    box, settings = founder
    beats = Heartbeats(settings, _admit(settings, tmp_path, "beta"))
    beats.start()
    try:
        up = _wait(lambda: _hypervisors(box).get("beta", {}).get("state") == "up")
        assert up, (_hypervisors(box), box.logs())
        beta = _hypervisors(box)["beta"]
        # its capacity is what the node's agent reported (the fake driver's)
        assert beta["hypervisor_type"] == "FAKE" and beta["vcpus"] == 64 and beta["status"] == "enabled"
    finally:
        beats.stop()
    silent = time.time()
    down = _wait(lambda: _hypervisors(box)["beta"]["state"] == "down", timeout=20)
    took = time.time() - silent
    # the bound: 3 heartbeat intervals (the cluster's offline rule) + 1 (the registry's round), plus a heartbeat
    # that may have landed just before the silence and a little scheduling slack
    assert down and took <= 4 * INTERVAL + 2.5, (took, _hypervisors(box))
    print(f"\nnode down {took:.1f} s after its last heartbeat (interval {INTERVAL} s)")

    # while beta is down: a server still on it shows its host DOWN; another was deleted, its guest still runs there
    kept = _server(settings, "kept", host="beta", id=KEPT, domain_name=f"egret-{KEPT}")
    _server(settings, "gone", host="beta", id=GONE, domain_name=f"egret-{GONE}", deleted=True, vm_state="deleted")
    agent = RemoteDriver.for_node(settings, "beta", "127.0.0.1")   # the founder's own certificate, as compute's
    agent.spawn(_spec(f"egret-{GONE}"))
    admin = {"X-Auth-Token": box.admin_token()}
    shown = requests.get(box.url("compute", f"/v2.1/servers/{kept}"), timeout=10,
                         headers={**admin, "OpenStack-API-Version": "compute 2.16"}).json()["server"]
    assert shown["host_status"] == "DOWN" and shown["OS-EXT-STS:power_state"] == 1, shown

    # removing it asks the running compute API, which names the server
    remove = f"https://127.0.0.1:{settings.port('cluster')}/v1/cluster/nodes/beta"
    r = requests.delete(remove, headers=admin, verify=False, timeout=20)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["message"] == "node beta still hosts 1 server; drain it first (egret cluster drain beta)"

    # beta comes back: the deleted server's guest is destroyed there, through its agent
    beats.start()
    try:
        assert _wait(lambda: f"egret-{GONE}" not in agent.list_domains()), (agent.list_domains(), box.logs())
        assert _wait(lambda: _hypervisors(box)["beta"]["state"] == "up")
    finally:
        beats.stop()

    # drained (here: its server deleted), it may go; its row stays, and goes down
    open_service_database(settings, "compute", compute_models.database, migrations=False)
    with compute_models.database.connection_context():
        compute_models.Instance.update(deleted=True).where(compute_models.Instance.id == kept).execute()
    r = requests.delete(remove, headers=admin, verify=False, timeout=20)
    assert r.status_code == 204, r.text
    assert _wait(lambda: _hypervisors(box)["beta"]["state"] == "down", timeout=10)
