"""The system layer behind the wizard: network, hostname/time, disks. Fake for unit tests, real for the box."""
from __future__ import annotations

from pathlib import Path

from appliance.config import Settings
from firstboot.system.base import SystemError_, SystemLayer
from firstboot.system.fake import FakeSystem
from firstboot.system.real import RealSystem


def system_root(settings: Settings) -> Path:
    """Where /etc files go: "/" on the box (set in its config); a sandbox under state_dir in dev and tests."""
    configured = settings.section("firstboot").get("system_root")
    return Path(configured) if configured else settings.state_dir / "firstboot" / "root"


def make_system(settings: Settings) -> SystemLayer:
    if settings.fake_drivers or settings.section("firstboot").get("fake_system"):
        return FakeSystem(system_root(settings))
    return RealSystem(system_root(settings), dhcp_timeout=float(settings.section("firstboot").get("dhcp_timeout", 10)))


__all__ = ["SystemLayer", "SystemError_", "make_system", "system_root"]
