"""Compute drivers: the libvirt driver and its fake, behind one contract (base.ComputeDriver)."""
from __future__ import annotations

from services.compute.drivers.fake import FakeDriver


def load_driver(settings):
    """The fake with EGRET_FAKE_DRIVERS=1, else libvirt (qemu:///system unless compute.libvirt_uri says)."""
    section = settings.section("compute")
    if settings.fake_drivers or section.get("driver") == "fake":
        return FakeDriver.from_settings(settings)
    # imported only here: libvirt-python is absent where every driver is a fake (a laptop, CI unit runs)
    from services.compute.drivers.libvirt.driver import LibvirtDriver
    return LibvirtDriver.from_settings(settings)
