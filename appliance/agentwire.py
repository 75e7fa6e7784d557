"""The control plane's HTTPS (mTLS) line to a node agent (compute, network): its address, and connections to it."""
from __future__ import annotations

import http.client
import ssl
from pathlib import Path

from appliance import pki


def address(host: str, port: int) -> str:
    """host:port, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"a node agent's address is host:port, not {address!r}")
    return host.strip("[]"), int(port)


class Line:
    """One node agent as a remote driver reaches it. `label` names it in errors ("Compute node 'n1'"), `error` is
    the calling service's DriverError class, raised when the node cannot be reached."""

    def __init__(self, label: str, error: type[Exception], address: str, ca_pem: str,
                 cert: tuple[Path, Path] | None, connect_timeout: float):
        self.label, self.error = label, error
        self.host, self.port = split(address)
        self.connect_timeout = connect_timeout
        self.context = pki.client_context(ca_pem, cert)

    def connect(self, timeout: float) -> http.client.HTTPSConnection:
        """A connection made within connect_timeout (else the node is taken as offline), then given `timeout`
        for the call itself."""
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.connect_timeout, context=self.context)
        try:
            conn.connect()
        except (OSError, ssl.SSLError) as exc:
            conn.close()
            raise self.unreachable(exc) from None
        conn.sock.settimeout(timeout)   # connected quickly; now the call itself may take its time
        return conn

    def unreachable(self, exc: BaseException) -> Exception:
        what = "did not answer in time" if isinstance(exc, TimeoutError) else f"cannot be reached ({exc})"
        return self.error(f"{self.label} ({self.host}:{self.port}) {what}.")
