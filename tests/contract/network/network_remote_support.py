"""A network node agent for the remote driver's tests: the agent app served over real HTTPS with client certificates
on 127.0.0.1 in a background thread, with a throwaway site CA (the compute agent's test site and server, reused)."""
from __future__ import annotations

from services.network import agent
from services.network.drivers.remote import RemoteNetworkDriver
from tests.contract.compute.remote_support import (  # noqa: F401
    CONTROL,
    MEMBER,
    NODE,
    AgentServer,
    Site,
    make_site,
)


class NetworkAgentServer(AgentServer):
    """The network agent app, served as the compute agent's is."""

    agent = agent


def remote(site: Site, address: str, *, name: str = CONTROL, foreign: bool = False, **kw) -> RemoteNetworkDriver:
    """The control plane's driver for the agent at `address`, holding the certificate `name` (or a foreign one)."""
    return RemoteNetworkDriver(NODE, address, site.ca.cert_pem, site.cert(name, foreign=foreign), **kw)
