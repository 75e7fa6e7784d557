"""`egret join --force` on a box with a real libvirt guest: the guest of its server is destroyed and undefined with
its files, before the databases go; a domain of another prefix on the same libvirtd is left running."""
from __future__ import annotations

import pytest

from appliance import config
from appliance.cluster import membership
from appliance.db import open_service_database
from appliance.testing.cloud import RunningCloud
from appliance.testing.libvirtd import libvirt_instances_dir, libvirtd, run_prefix  # noqa: F401
from services.compute import models
from services.compute.models import Instance

pytestmark = pytest.mark.integration
SERVER = "5e4f0a1c-hc00-4000-8000-000000000001"


def _tcg_xml(name: str) -> str:
    """The smallest guest QEMU/TCG runs: no disk, it waits in its firmware (nothing to boot)."""
    return (f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
            "<os><type>hvm</type></os><devices><console type='pty'/></devices></domain>")


@pytest.fixture
def guests(libvirtd, run_prefix):  # noqa: F811
    import libvirt  # libvirt-python: present wherever the libvirtd fixture passes
    conn = libvirt.open(libvirtd)
    names = {"box": f"{run_prefix}hc-{SERVER}", "other": f"{run_prefix}hx-{SERVER}"}
    for name in names.values():
        conn.defineXML(_tcg_xml(name)).create()
    yield conn, names
    for name in names.values():
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError:
            continue
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    conn.close()


def test_a_forced_join_destroys_the_boxs_guests_and_only_those(guests, run_prefix, libvirt_instances_dir,  # noqa: F811
                                                                tmp_path):
    conn, names = guests
    founder = RunningCloud(tmp_path / "alpha", services=["identity", "cluster"])
    box = RunningCloud(tmp_path / "beta", services=["identity", "compute"])
    instances = libvirt_instances_dir / "hc"
    (box.state_dir / "etc").mkdir(parents=True)
    (box.state_dir / "etc" / "egret.toml").write_text(
        f'[service.cluster]\nnode_name = "beta"\n[service.compute]\ndomain_prefix = "{run_prefix}hc-"\n'
        f'instances_dir = "{instances}"\n')
    settings = config.load(env=box.env)
    database = open_service_database(settings, "compute", models.database)
    Instance.create(id=SERVER, name="vm", project_id="p", user_id="u", flavor={}, host="beta", vm_state="active",
                    domain_name=names["box"])
    database.close()
    (instances / SERVER).mkdir(parents=True)
    (instances / SERVER / "console.log").write_text("booted\n")
    founder.start()
    try:
        membership.found(config.load(env=founder.env), "lab")
        token = founder.egret("join-token").stdout.splitlines()[0]
        out = box.egret("join", token, "--address", "127.0.0.1:1")
        assert out.returncode == 1 and "holds 1 server" in out.stdout, out.stdout + out.stderr
        out = box.egret("join", token, "--address", "127.0.0.1:1", "--force")
    finally:
        founder.stop()
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"--force: compute: destroyed and undefined domain {names['box']} (server {SERVER})" in out.stdout
    assert f"--force: compute: deleted the instance files of server {SERVER}" in out.stdout
    assert names["box"] not in {d.name() for d in conn.listAllDomains()}   # stopped and undefined
    assert not (instances / SERVER).exists() and not (box.state_dir / "compute.db").exists()
    assert conn.lookupByName(names["other"]).isActive()   # another cloud's guest on the same libvirtd
