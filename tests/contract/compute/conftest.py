"""The compute driver contract's fixtures: each suite runs once on the fake and once on libvirt (qemu:///system)."""
from __future__ import annotations

import uuid

import pytest

from appliance.testing.libvirtd import libvirt_instances_dir, libvirtd, run_prefix, tiny_guest  # noqa: F401
from services.compute.drivers.fake import FakeDriver


@pytest.fixture(scope="module", params=["fake", "libvirt"])
def driver(request, run_prefix):  # noqa: F811
    if request.param == "fake":
        drv = FakeDriver(prefix=f"{run_prefix}f-")
    else:
        request.getfixturevalue("libvirtd")
        # here, not at the top: without libvirt-python (a laptop) the fake's half still runs
        from services.compute.drivers.libvirt.driver import LibvirtDriver
        drv = LibvirtDriver("qemu:///system", prefix=f"{run_prefix}l-")
    yield drv
    for name in drv.list_domains():
        drv.destroy(name)


@pytest.fixture(scope="module")
def workdir(libvirt_instances_dir, request):  # noqa: F811
    path = libvirt_instances_dir / f"contract-{uuid.uuid4().hex[:6]}"
    path.mkdir()
    path.chmod(0o755)
    return path
