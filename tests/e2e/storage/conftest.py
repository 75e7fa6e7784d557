"""One real `egret up` (identity + storage) per e2e module, plus a second project with its own member."""
from __future__ import annotations

import time

import pytest

from appliance.testing.cloud import RunningCloud


class Persona:
    """CLI arguments that make the unmodified openstack CLI act as another user."""

    def __init__(self, cloud, username, password, project):
        self.cloud = cloud
        self.args = ["--os-username", username, "--os-password", password, "--os-project-name", project,
                     "--os-user-domain-name", "Default", "--os-project-domain-name", "Default"]

    def openstack(self, *args, **kw):
        return self.cloud.openstack(*self.args, *args, **kw)

    def openstack_json(self, *args, **kw):
        return self.cloud.openstack_json(*self.args, *args, **kw)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = RunningCloud(tmp_path_factory.mktemp("storage-e2e") / "state", services=["identity", "storage"])
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def other(cloud):
    """bob, a member of project 'other' (not admin)."""
    cloud.openstack("project", "create", "--domain", "default", "other")
    cloud.openstack("user", "create", "--domain", "default", "--password", "Bob-pass-123", "--project", "other",
                    "bob")
    cloud.openstack("role", "add", "--project", "other", "--user", "bob", "member")
    return Persona(cloud, "bob", "Bob-pass-123", "other")


def wait_for(fn, what, timeout=180):
    # each CLI run costs about a second (several on a loaded machine), so the budget is generous
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
