"""The network node agent: this node's data-plane driver, served over HTTPS to the site's control plane (mTLS)."""
from __future__ import annotations

from pathlib import Path

from appliance import config, pki, routes
from appliance.app import make_app
from appliance.cluster import membership
from appliance.peergate import PeerGate
from services.network.agent.calls import TABLE
from services.network.drivers import load_driver

UNIT = "network-agent"     # its unit, service and settings section ([service.network-agent])
STATE = "network-agent"    # its state directory (the TLS files gunicorn reads)


def control_plane(settings) -> set[str]:
    """Certificate names allowed to drive this node: `control_plane = [...]` in the unit's settings, else the
    site's founder, which runs the API services (a standalone box: nobody). The compute agent decides the same
    way (services/compute/agent); services never import each other, so each agent says it itself."""
    configured = settings.section(UNIT).get("control_plane")
    if configured:
        return {configured} if isinstance(configured, str) else set(configured)
    info = membership.site(settings)
    if not info:
        return set()
    if info["role"] == "founder":
        return {info["node"]}
    try:
        return {m["name"] for m in membership.known_members(settings) if m.get("founder")}
    except (OSError, ValueError):   # a member that has not heard from its site yet
        return set()


def prepare(settings) -> dict[str, Path]:
    """Before gunicorn binds: the agent serves with this node's site certificate and trusts the site CA alone."""
    cert, key = membership.node_certificate(settings)
    if not (cert.exists() and key.exists()):
        membership.prepare_tls(settings)
    files = pki.tls_files(settings, STATE)
    files["cert"].parent.mkdir(parents=True, exist_ok=True)
    wanted = {files["cert"]: cert.read_text(), files["key"]: key.read_text(),
              files["ca"]: membership.site_ca_pem(settings)}
    for target, text in wanted.items():
        if not target.exists() or target.read_text() != text:
            (pki.write_private if target == files["key"] else Path.write_text)(target, text)
    return files


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
