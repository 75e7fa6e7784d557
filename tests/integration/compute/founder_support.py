"""A box under `egret up` (fake drivers) that founded a site named "edge" as node "alpha": its own control plane."""
from __future__ import annotations

import contextlib
from pathlib import Path

from appliance import config
from appliance.cluster import membership
from appliance.testing.cloud import RunningCloud


@contextlib.contextmanager
def founded_box(directory: Path, services: list[str], settings_toml: str = ""):
    """(box, settings) of the started box, stopped after. `settings_toml` follows the node's name in egret.toml's
    [service.cluster] section (so its bare keys are the cluster unit's; it may open other sections)."""
    box = RunningCloud(directory, services=services, extra_env={"EGRET_FAKE_DRIVERS": "1"})
    (box.state_dir / "etc").mkdir(parents=True)
    (box.state_dir / "etc" / "egret.toml").write_text('[service.cluster]\nnode_name = "alpha"\n' + settings_toml)
    settings = config.load(env=box.env)
    membership.found(settings, "edge")
    box.start()
    try:
        yield box, settings
    finally:
        box.stop()
