"""The control plane's HTTPS (mTLS) line to a node agent (compute, network): its address, and connections to it."""
from __future__ import annotations

import http.client
import socket
import ssl
from pathlib import Path

from appliance import pki

# TCP alone answers "is the node up" (its kernel accepts in microseconds); the TLS handshake needs the agent's CPU,
# which a one-CPU node running a guest under TCG may not give it within the connect timeout
HANDSHAKE_TIMEOUT = 30.0


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
        """A TCP connection accepted within connect_timeout (else the node is taken as offline), a TLS handshake
        within the call's `timeout` (at most HANDSHAKE_TIMEOUT), then `timeout` for the call itself."""
        try:
            raw = socket.create_connection((self.host, self.port), self.connect_timeout)
        except OSError as exc:
            raise self.unreachable(exc) from None
        raw.settimeout(max(self.connect_timeout, min(timeout, HANDSHAKE_TIMEOUT)))
        try:
            tls = self.context.wrap_socket(raw, server_hostname=self.host)
        except (OSError, ssl.SSLError) as exc:
            raw.close()
            raise self.unreachable(exc) from None
        tls.settimeout(timeout)   # connected; now the call itself may take its time
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.context)
        conn.sock = tls
        return conn

    def unreachable(self, exc: BaseException) -> Exception:
        what = "did not answer in time" if isinstance(exc, TimeoutError) else f"cannot be reached ({exc})"
        return self.error(f"{self.label} ({self.host}:{self.port}) {what}.")
