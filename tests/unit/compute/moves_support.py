"""A small site for the move tests: the API's own node (disabled, so nothing lands there) and three fake nodes."""
from __future__ import annotations

from services.compute import models, scheduler
from services.compute.drivers import base
from services.compute.drivers.fake import FakeDriver
from services.compute.models import Allocation, Instance
from services.compute.scheduler import nodes

NODES = ("node-a", "node-b", "node-c")


def caps(host, memory_mb=8192):
    return base.HostCaps(domain_type="fake", domain_type_reason="fake driver", hostname=host, cpus=8,
                         memory_mb=memory_mb, numa_nodes=1, disk_gb=100)


class Unreachable:
    """A node that is down: any call to its driver fails (and is counted), as a cut-off agent's would."""

    prefix = "egunit-"

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append(name)
            raise base.DriverError(f"node unreachable ({name})")
        return call


def make_site(env, memory_mb=8192):
    env.drivers = {}
    with models.database.connection_context():
        local = scheduler.register_local(env.manager.node)
        nodes.set_disabled(local, True, "the API's node takes no servers in these tests")
        for host in NODES:
            env.drivers[host] = FakeDriver(prefix="egunit-", caps=caps(host, memory_mb))
            env.manager.node.register_driver(host, env.drivers[host])
            scheduler.register(host, env.drivers[host].caps, {"ram_allocation_ratio": 1.0})
    return env


def boot_on_volume(env, host) -> tuple[str, str]:
    """A server booted from a new volume on `host`'s disk (no iSCSI target here, so it boots there too):
    (server id, its volume's attachment id)."""
    vol = env.volume.add_volume(name="boot")
    vol["os-vol-host-attr:host"] = f"{host}@file#file"
    body = env.server_body()
    del body["server"]["imageRef"]
    body["server"]["block_device_mapping_v2"] = [{"uuid": vol["id"], "source_type": "volume",
                                                  "destination_type": "volume", "boot_index": 0}]
    sid = env.api.post("/v2.1/servers", json=body).json["server"]["id"]
    assert row(sid).host == host and server(env, sid)["status"] == "ACTIVE"
    assert vol["path"] in env.drivers[host].xml(row(sid).domain_name)
    with models.database.connection_context():
        return sid, row(sid).attachments[0].attachment_id


def service_id(env, host) -> str:
    return env.admin.get(f"/v2.1/os-services?host={host}").json["services"][0]["id"]


def force_down(env, host, down=True) -> None:
    resp = env.admin.put(f"/v2.1/os-services/{service_id(env, host)}", json={"forced_down": down})
    assert resp.status_code == 200, resp.json


def server(env, sid) -> dict:
    return env.admin.get(f"/v2.1/servers/{sid}").json["server"]


def row(sid) -> Instance:
    with models.database.connection_context():
        return Instance.get_by_id(sid)


def claims() -> dict:
    """instance (or migration) id -> host of every claim."""
    with models.database.connection_context():
        return {a.instance_id: a.host for a in Allocation.select()}
