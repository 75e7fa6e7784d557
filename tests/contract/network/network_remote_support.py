"""A network node agent for the remote driver's tests: the agent app served over real HTTPS with client certificates
on 127.0.0.1 in a background thread, with a throwaway site CA (the compute agent's test site, reused)."""
from __future__ import annotations

import ssl
import threading

from werkzeug.serving import make_server

from appliance import config
from services.network import agent
from services.network.drivers.remote import RemoteNetworkDriver
from tests.contract.compute.remote_support import CONTROL, MEMBER, NODE, Site, make_site  # noqa: F401


class NetworkAgentServer:
    """The network agent app behind werkzeug's threaded server, TLS as the unit serves it (client certificate
    optional at the TLS layer, verified against the site CA when sent; the peer gate refuses the rest)."""

    def __init__(self, site: Site, driver, allowed=(CONTROL,), settings=None):
        crt, key = site.cert(NODE)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(crt), str(key))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cadata=site.ca.cert_pem)
        settings = settings or config.Settings(state_dir=site.directory / "state", config_dir=site.directory / "etc")
        self.driver = driver
        self.app = agent.create_app(settings, driver=driver, allowed=lambda: set(allowed))
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True, ssl_context=ctx)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="network-agent")
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def remote(site: Site, address: str, *, name: str = CONTROL, foreign: bool = False, **kw) -> RemoteNetworkDriver:
    """The control plane's driver for the agent at `address`, holding the certificate `name` (or a foreign one)."""
    return RemoteNetworkDriver(NODE, address, site.ca.cert_pem, site.cert(name, foreign=foreign), **kw)
