"""pytest fixtures: a running libvirtd (started once per machine, never stopped) and the tiny test guest."""
from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest

from appliance.libvirtd import ensure_libvirtd
from appliance.testing.guest import build_tiny_guest

IMAGES = Path("/var/lib/libvirt/images")


def libvirtd_available() -> str | None:
    """None if libvirtd can be used here, else the reason."""
    if not shutil.which("libvirtd"):
        return "libvirtd is not installed (scripts/setup-debian.sh installs libvirt-daemon-system)"
    try:
        import libvirt  # noqa: F401 (optional: the probe is whether it imports at all)
    except ImportError:
        return "libvirt-python is not installed"
    return None


@pytest.fixture(scope="session")
def libvirtd():
    """qemu:///system, with libvirtd started as a plain process if its socket is absent."""
    reason = libvirtd_available()
    if reason:
        pytest.fail(reason)
    ensure_libvirtd()
    return "qemu:///system"


@pytest.fixture(scope="session")
def tiny_guest():
    return build_tiny_guest()


@pytest.fixture(scope="session")
def run_prefix():
    """A short unique prefix for every domain/link this test run creates."""
    return "eg" + secrets.token_hex(2)


@pytest.fixture(scope="session")
def libvirt_instances_dir(run_prefix):
    """A directory libvirt's qemu user can traverse (pytest's tmp dirs are 0700)."""
    path = IMAGES / f"egret-test-{run_prefix}"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
