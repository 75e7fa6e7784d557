"""Identity e2e fixtures: one `egret up` running identity alone per test module."""
from __future__ import annotations

import pytest

from appliance.testing.cloud import RunningCloud


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, request):
    c = RunningCloud(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]) / "state",
                     services=["identity"]).start()
    yield c
    c.stop()
