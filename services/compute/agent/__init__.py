"""The compute node agent: this node's compute driver, served over HTTPS to the site's control plane (mTLS)."""
from __future__ import annotations

from pathlib import Path

from appliance import config
from appliance.cluster import nodeagent
from services.compute.agent.calls import TABLE
from services.compute.drivers import load_driver

UNIT = "compute-agent"     # its unit, service and settings section ([service.compute-agent])
STATE = "compute-agent"    # its state directory (the TLS files gunicorn reads)


def control_plane(settings) -> set[str]:
    """Certificate names allowed to drive this node (appliance/cluster/nodeagent.py: the site's founder)."""
    return nodeagent.control_plane(settings, UNIT)


def prepare(settings) -> dict[str, Path]:
    """Before gunicorn binds: this node's site certificate, the site CA alone trusted."""
    return nodeagent.prepare_tls(settings, STATE)


def create_app(settings=None, *, driver=None, allowed=None):
    """`allowed`: () -> names allowed in (tests); by default the site's control plane (nodeagent.create_app)."""
    settings = settings or config.load()
    return nodeagent.create_app(UNIT, settings, driver or load_driver(settings), TABLE, allowed)
