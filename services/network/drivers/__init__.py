"""Data-plane drivers of the network service (linux: bridges/netns/nftables/dnsmasq; fake: in memory)."""
from __future__ import annotations

from services.network.drivers.fake import FakeDriver


def load_driver(settings):
    if settings.fake_drivers:
        return FakeDriver(settings)
    # imported here: pyroute2 and the Linux driver are heavy, and laptops and unit tests never need them
    from services.network.drivers.linux import LinuxDriver
    return LinuxDriver(settings)
