"""A throwaway site for the remote driver's tests: a site CA (appliance/pki.py), certificates, and a node agent
served over real HTTPS with client certificates on 127.0.0.1 in a background thread."""
from __future__ import annotations

import io
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from werkzeug.serving import DechunkedInput, make_server

from appliance import config, pki
from services.compute import agent
from services.compute.drivers.remote import RemoteDriver

NODE, CONTROL, MEMBER = "node-1", "control", "member-2"


@dataclass
class Site:
    directory: Path
    ca: pki.CertificateAuthority
    foreign: pki.CertificateAuthority   # another site's CA: its certificates must not get in

    def cert(self, name: str, *, foreign: bool = False) -> tuple[Path, Path]:
        """A certificate and key named `name` from the site CA (or the foreign one), made once."""
        ca = self.foreign if foreign else self.ca
        base = self.directory / ("foreign" if foreign else "site")
        crt, key = base / f"{name}.crt", base / f"{name}.key"
        ca.ensure_leaf(crt, key, name, ["127.0.0.1"])
        return crt, key


def make_site(directory: Path) -> Site:
    return Site(directory, pki.CertificateAuthority.create(directory / "ca", "Egret test site"),
                pki.CertificateAuthority.create(directory / "foreign-ca", "Egret other site"))


class AgentServer:
    """The agent app behind werkzeug's threaded server, TLS as the unit serves it (client certificate optional
    at the TLS layer and verified against the site CA when sent; the peer gate refuses the rest). A subclass
    serves another node agent by naming its package (tests/contract/network/network_remote_support.py)."""

    agent = agent   # the agent package: its create_app(settings, driver=..., allowed=...)

    def __init__(self, site: Site, driver, allowed=(CONTROL,), settings=None):
        crt, key = site.cert(NODE)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(crt), str(key))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cadata=site.ca.cert_pem)
        settings = settings or config.Settings(state_dir=site.directory / "state", config_dir=site.directory / "etc")
        self.driver = driver
        self.app = self.agent.create_app(settings, driver=driver, allowed=lambda: set(allowed))
        self.server = make_server("127.0.0.1", 0, _buffered_dechunking(self.app), threaded=True, ssl_context=ctx)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name=self.agent.UNIT)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _buffered_dechunking(app):
    """werkzeug's dev server hands the app its DechunkedInput bare: read through RawIOBase.read, a body cut off
    mid-chunk (an upload whose source failed) makes it report more bytes than it read, and the process crashes.
    Through a BufferedReader the short chunk is an error, as under gunicorn."""
    def wsgi(environ, start_response):
        if isinstance(environ.get("wsgi.input"), DechunkedInput):
            environ["wsgi.input"] = io.BufferedReader(environ["wsgi.input"])
        return app(environ, start_response)
    return wsgi


def remote(site: Site, address: str, *, name: str = CONTROL, foreign: bool = False, prefix: str = "egret-",
           **kw) -> RemoteDriver:
    return RemoteDriver(NODE, address, site.ca.cert_pem, site.cert(name, foreign=foreign), prefix=prefix, **kw)
