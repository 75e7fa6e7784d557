"""Compute drivers: the libvirt driver and its fake, behind one contract (base.ComputeDriver)."""
from __future__ import annotations


def load_driver(settings):
    """The fake with EGRET_FAKE_DRIVERS=1, else libvirt (qemu:///system unless compute.libvirt_uri says)."""
    section = settings.section("compute")
    if settings.fake_drivers or section.get("driver") == "fake":
        from services.compute.drivers.fake import FakeDriver
        return FakeDriver.from_settings(settings)
    from services.compute.drivers.libvirt.driver import LibvirtDriver
    return LibvirtDriver.from_settings(settings)
