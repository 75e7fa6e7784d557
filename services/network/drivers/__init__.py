"""Data-plane drivers of the network service (linux: bridges/netns/nftables/dnsmasq; fake: in memory)."""
from __future__ import annotations


def load_driver(settings):
    if settings.fake_drivers:
        from services.network.drivers.fake import FakeDriver
        return FakeDriver(settings)
    from services.network.drivers.linux import LinuxDriver
    return LinuxDriver(settings)
