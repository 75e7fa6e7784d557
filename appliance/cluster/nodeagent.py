"""What every node agent (compute, network) shares: who may drive it, the TLS files it serves with, its app, and
how the control plane reaches it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appliance import agentwire, config, pki, routes
from appliance.app import make_app
from appliance.cluster import membership
from appliance.peergate import PeerGate


def control_plane(settings, unit: str) -> set[str]:
    """Certificate names allowed to drive this node's agent `unit`: `control_plane = [...]` in the unit's settings,
    else the site's founder, which runs the API services (a standalone box: nobody)."""
    configured = settings.section(unit).get("control_plane")
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


def prepare_tls(settings, state: str) -> dict[str, Path]:
    """Before gunicorn binds: the agent (state directory `state`) serves with this node's site certificate and
    trusts the site CA alone."""
    cert, key = membership.node_certificate(settings)
    if not (cert.exists() and key.exists()):
        membership.prepare_tls(settings)
    files = pki.tls_files(settings, state)
    files["cert"].parent.mkdir(parents=True, exist_ok=True)
    wanted = {files["cert"]: cert.read_text(), files["key"]: key.read_text(),
              files["ca"]: membership.site_ca_pem(settings)}
    for target, text in wanted.items():
        if not target.exists() or target.read_text() != text:
            (pki.write_private if target == files["key"] else Path.write_text)(target, text)
    return files


def create_app(unit: str, settings, driver, table, allowed=None):
    """The agent's app: its node's `driver` behind the routes of `table`, only the control plane let in.
    `allowed`: () -> names allowed in (tests); by default read from the site's membership at each request, so a
    join or a new founder takes effect without a restart."""
    app = make_app(unit, settings, error_format="keystone")
    app.extensions["egret.driver"] = driver
    routes.register(app, table)
    app.wsgi_app = PeerGate(app.wsgi_app, allowed or (lambda: control_plane(settings, unit)))
    return app


@dataclass(frozen=True)
class Agent:
    """A node agent unit (services/manifest.toml): `unit` names its unit, service and settings section, `state` its
    state directory (the TLS files gunicorn reads); its app serves `table` over the driver `load_driver(settings)`
    gives. Its package exports the three methods below, which the manifest and appliance/processes.py call."""
    unit: str
    state: str
    table: object
    load_driver: object

    def control_plane(self, settings) -> set[str]:
        """Certificate names allowed to drive this node (control_plane above: the site's founder)."""
        return control_plane(settings, self.unit)

    def prepare(self, settings) -> dict[str, Path]:
        """Before gunicorn binds: this node's site certificate, the site CA alone trusted."""
        return prepare_tls(settings, self.state)

    def create_app(self, settings=None, *, driver=None, allowed=None):
        """`allowed`: () -> names allowed in (tests); by default the site's control plane (create_app above)."""
        settings = settings or config.load()
        return create_app(self.unit, settings, driver or self.load_driver(settings), self.table, allowed)


def reach(settings, host: str, port_name: str) -> tuple[str, str, tuple[Path, Path]]:
    """(address, site CA, certificate) with which this box (the control plane) reaches the agent on a member at
    `host`, listening on the port `port_name` of the settings: a remote driver's arguments."""
    return (agentwire.address(host, settings.port(port_name)), membership.site_ca_pem(settings),
            membership.node_certificate(settings))
