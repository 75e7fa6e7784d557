"""The compute driver contract's fixtures: each suite runs on the fake, on libvirt (qemu:///system), and through
the remote driver (RemoteDriver -> a node agent over real HTTPS with mTLS on 127.0.0.1 -> the fake or libvirt)."""
from __future__ import annotations

import uuid

import pytest
from remote_support import AgentServer, make_site, remote

from appliance.testing.libvirtd import libvirt_instances_dir, libvirtd, run_prefix, tiny_guest  # noqa: F401
from services.compute.drivers.fake import FakeDriver

DRIVERS = ["fake", "libvirt", "remote-fake", "remote-libvirt"]
# remote-libvirt costs a module its guest boots once more: only where that is one guest at most
NO_REMOTE_LIBVIRT = {"test_driver_contract"}   # its lifecycle test boots its guest four times


def pytest_generate_tests(metafunc):
    if "driver" in metafunc.fixturenames:
        module = metafunc.module.__name__.rpartition(".")[2]
        params = [p for p in DRIVERS if not (p == "remote-libvirt" and module in NO_REMOTE_LIBVIRT)]
        metafunc.parametrize("driver", params, indirect=True, scope="module")


def _local(kind: str, request, prefix: str):
    if kind == "fake":
        return FakeDriver(prefix=prefix)
    request.getfixturevalue("libvirtd")
    # here, not at the top: without libvirt-python (a laptop) the fake's half still runs
    from services.compute.drivers.libvirt.driver import LibvirtDriver
    return LibvirtDriver("qemu:///system", prefix=prefix)


@pytest.fixture(scope="module")
def driver(request, run_prefix, tmp_path_factory):  # noqa: F811
    kind = request.param
    letter = {"fake": "f", "libvirt": "l", "remote-fake": "rf", "remote-libvirt": "rl"}[kind]
    local = _local(kind.removeprefix("remote-"), request, f"{run_prefix}{letter}-")
    if not kind.startswith("remote-"):
        yield local
        drv = local
    else:
        site = make_site(tmp_path_factory.mktemp("site"))
        server = AgentServer(site, local)
        drv = remote(site, server.address, prefix=local.prefix)
        drv.node_driver = local   # what the node's own driver holds (its libvirt secrets), for suites to look at
        # suites pretend the host is richer or barer by patching driver.host_caps; through a remote driver the
        # host is the node's, so the patch reaches the node's driver too
        node_caps = local.host_caps
        local.host_caps = lambda: drv.__dict__["host_caps"]() if "host_caps" in drv.__dict__ else node_caps()
        yield drv
    for name in drv.list_domains():
        drv.destroy(name)
    if kind.startswith("remote-"):
        server.stop()


@pytest.fixture(scope="module")
def workdir(libvirt_instances_dir, request):  # noqa: F811
    path = libvirt_instances_dir / f"contract-{uuid.uuid4().hex[:6]}"
    path.mkdir()
    path.chmod(0o755)
    return path
