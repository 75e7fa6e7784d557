"""Fixtures for the real data-plane tests: private prefix and state dir, metadata stub, the app on the Linux driver."""
from __future__ import annotations

import os
import secrets

import pytest

from appliance.testing.plugin import free_port, make_settings
from network_dp_support import HOOK, Cloud, MetadataStub, sh


@pytest.fixture
def net_env(tmp_path):
    """Settings with a private prefix, an external upstream netns, and a metadata stub on a free port."""
    if os.geteuid() != 0:
        pytest.skip("integration tests need root for namespaces (the build machines run them as root)")
    prefix = "eg" + secrets.token_hex(2)
    meta_port = free_port()
    settings = make_settings(tmp_path / "state", ports={"metadata": meta_port}, service={"network": {
        "prefix": prefix, "reconcile_interval": 0, "cleanup_on_exit": False, "vni_min": 30000 + int(prefix[2:], 16) % 1000 * 10,
        "vni_max": 30000 + int(prefix[2:], 16) % 1000 * 10 + 9,
        "external_upstream": {"physical_network": "public", "cidr": "203.0.113.1/24"}}})
    hook = tmp_path / "udhcpc-hook.sh"
    hook.write_text(HOOK)
    hook.chmod(0o755)
    stub = MetadataStub(meta_port)
    env = {"settings": settings, "prefix": prefix, "hook": str(hook), "vms": [], "metadata": stub,
           "ext": f"{prefix}-ext"}
    yield env
    for vm in env["vms"]:
        vm.destroy()
    stub.close()
    if "driver" in env:
        env["driver"].teardown()
    leftovers = [n for n in sh("ip", "netns", "list").stdout.split() if n.startswith(prefix)]
    assert leftovers == [], f"leaked namespaces: {leftovers}"


@pytest.fixture
def cloud(net_env, mint_token):
    return Cloud(net_env, mint_token)
