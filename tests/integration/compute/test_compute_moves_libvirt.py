"""A cold migration between two real libvirt nodes (two LibvirtDrivers on this machine's libvirtd, each with its own
domain prefix and instances_dir): the tiny guest's disk is copied by qemu-img, it boots on the target, and the
confirm removes the source's domain and files."""
from __future__ import annotations

import time

import pytest

from appliance.testing.libvirtd import libvirt_instances_dir, libvirtd, run_prefix, tiny_guest  # noqa: F401
from appliance.testing.plugin import TokenMinter, make_settings
from appliance.db import open_service_database
from appliance.testing.guest import BOOT_MARKER
from services.compute import build_api, models, scheduler
from services.compute.drivers import base
from services.compute.drivers.libvirt.driver import LibvirtDriver
from services.compute.fakes import fake_clients
from services.compute.models import Instance

pytestmark = pytest.mark.integration
PROJECT = "p-moves"


@pytest.fixture(scope="module")
def site(libvirtd, tiny_guest, run_prefix, libvirt_instances_dir, tmp_path_factory):  # noqa: F811
    settings = make_settings(tmp_path_factory.mktemp("moves") / "state")
    settings.service["compute"] = {"host": "node-a", "shutdown_timeout": 0,
                                   "instances_dir": str(libvirt_instances_dir / "node-a")}
    drivers = {host: LibvirtDriver("qemu:///system", prefix=f"{run_prefix}m{host[-1]}-",
                                   instances_dir=libvirt_instances_dir / host) for host in ("node-a", "node-b")}
    clients = fake_clients()
    open_service_database(settings, "compute", models.database)
    app = build_api(settings, drivers["node-a"], clients, synchronous=True)
    manager = app.extensions["egret.manager"]
    manager.node.register_driver("node-b", drivers["node-b"])
    with models.database.connection_context():
        scheduler.register_local(manager.node)
        scheduler.register("node-b", drivers["node-b"].host_caps(), {})
    images = clients["image"]
    kernel = images.add_image(path=str(tiny_guest.kernel), name="k", disk_format="aki", container_format="aki")
    ramdisk = images.add_image(path=str(tiny_guest.initrd), name="r", disk_format="ari", container_format="ari")
    image = images.add_image(path=str(tiny_guest.disk), name="tiny", kernel_id=kernel["id"],
                             ramdisk_id=ramdisk["id"], os_command_line=tiny_guest.cmdline)
    mint = TokenMinter(settings)
    admin = mint(user_id="u-admin", project_id=PROJECT, roles=["admin", "member", "reader"])
    clients["network"].auth.register(admin, PROJECT, ["admin", "member", "reader"])
    yield app.test_client(), admin, image, drivers
    for driver in drivers.values():
        for name in driver.list_domains():
            driver.destroy(name)
    models.database.close()


def _call(client, token, method, path, body=None):
    return client.open(path, method=method, json=body,
                       headers={"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.79"})


def _booted(driver, sid, timeout=90.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if BOOT_MARKER in driver.console_log(sid):
            return True
        time.sleep(0.5)
    return False


def test_cold_migration_between_two_libvirt_nodes(site):
    client, admin, image, drivers = site
    resp = _call(client, admin, "POST", "/v2.1/servers", {"server": {
        "name": "mover", "imageRef": image["id"], "flavorRef": "6", "networks": "none",
        "availability_zone": "nova:node-a"}})
    assert resp.status_code == 202, resp.json
    sid = resp.json["server"]["id"]
    with models.database.connection_context():
        source = Instance.get_by_id(sid)
    assert source.host == "node-a" and source.vm_state == "active", source.fault
    # migrate at once: the guest need not finish booting on the source (one boot per module)
    started = time.monotonic()
    resp = _call(client, admin, "POST", f"/v2.1/servers/{sid}/action", {"migrate": {"host": "node-b"}})
    assert resp.status_code == 202, resp.json
    with models.database.connection_context():
        moved = Instance.get_by_id(sid)
    assert moved.vm_state == "resized" and moved.host == "node-b", moved.fault
    assert moved.domain_name.startswith(drivers["node-b"].prefix)
    assert drivers["node-b"].power_state(moved.domain_name) == base.RUNNING
    assert drivers["node-a"].power_state(source.domain_name) == base.NOSTATE     # its disk stays until the confirm
    assert (drivers["node-a"].files.root / sid / "disk").is_file()
    assert _booted(drivers["node-b"], sid), drivers["node-b"].console_log(sid)[-2000:]
    print(f"cold migration (stop, copy, define, start) took {time.monotonic() - started:.1f} s before the boot")
    resp = _call(client, admin, "POST", f"/v2.1/servers/{sid}/action", {"confirmResize": None})
    assert resp.status_code == 202
    assert source.domain_name not in drivers["node-a"].list_domains()
    assert not (drivers["node-a"].files.root / sid).exists() and (drivers["node-b"].files.root / sid / "disk").is_file()
    resp = _call(client, admin, "GET", f"/v2.1/servers/{sid}")
    assert resp.json["server"]["status"] == "ACTIVE" and resp.json["server"]["OS-EXT-SRV-ATTR:host"] == "node-b"
    assert _call(client, admin, "DELETE", f"/v2.1/servers/{sid}").status_code == 204
    assert moved.domain_name not in drivers["node-b"].list_domains()
