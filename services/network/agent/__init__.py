"""The network node agent: this node's data-plane driver, served over HTTPS to the site's control plane (mTLS)."""
from __future__ import annotations

from pathlib import Path

from appliance import config, routes
from appliance.app import make_app
from appliance.cluster import nodeagent
from appliance.peergate import PeerGate
from services.network.agent.calls import TABLE
from services.network.drivers import load_driver

UNIT = "network-agent"     # its unit, service and settings section ([service.network-agent])
STATE = "network-agent"    # its state directory (the TLS files gunicorn reads)


def control_plane(settings) -> set[str]:
    """Certificate names allowed to drive this node (appliance/cluster/nodeagent.py: the site's founder)."""
    return nodeagent.control_plane(settings, UNIT)


def prepare(settings) -> dict[str, Path]:
    """Before gunicorn binds: this node's site certificate, the site CA alone trusted."""
    return nodeagent.prepare_tls(settings, STATE)


def create_app(settings=None, *, driver=None, allowed=None):
    """`allowed`: () -> names allowed in (tests); by default read from the site's membership at each request,
    so a join or a new founder takes effect without a restart."""
    settings = settings or config.load()
    driver = driver or load_driver(settings)
    app = make_app(UNIT, settings, error_format="keystone")
    app.extensions["egret.driver"] = driver
    routes.register(app, TABLE)
    app.wsgi_app = PeerGate(app.wsgi_app, allowed or (lambda: control_plane(settings)))
    return app
