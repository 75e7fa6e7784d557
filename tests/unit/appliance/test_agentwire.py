"""The control plane's line to a node agent: offline is decided by TCP alone, a slow TLS handshake is waited for."""
from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest

from appliance import agentwire, pki


class Refused(Exception):
    pass


def _server(ca: pki.CertificateAuthority, tmp_path, handshake_delay: float):
    """A TLS server on loopback that accepts at once, then waits before its handshake; answers one request."""
    crt, key = tmp_path / "agent.crt", tmp_path / "agent.key"
    ca.ensure_leaf(crt, key, "agent", ["127.0.0.1"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(crt, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        time.sleep(handshake_delay)
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(4096)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        except OSError:
            pass        # the client gave up first (the never-answering case)
    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_a_slow_handshake_is_waited_for_within_the_call_budget(tmp_path):
    ca = pki.CertificateAuthority.create(tmp_path / "ca", "Egret test")
    with _server(ca, tmp_path, handshake_delay=1.5) as listener:
        line = agentwire.Line("Compute node 'busy'", Refused, f"127.0.0.1:{listener.getsockname()[1]}", ca.cert_pem,
                              None, connect_timeout=0.5)
        conn = line.connect(timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"ok"


def test_a_handshake_that_never_comes_ends_with_the_call_budget(tmp_path):
    ca = pki.CertificateAuthority.create(tmp_path / "ca", "Egret test")
    with _server(ca, tmp_path, handshake_delay=30) as listener:
        line = agentwire.Line("Compute node 'mute'", Refused, f"127.0.0.1:{listener.getsockname()[1]}", ca.cert_pem,
                              None, connect_timeout=0.5)
        with pytest.raises(Refused, match=r"Compute node 'mute' \(127\.0\.0\.1:\d+\) did not answer in time"):
            line.connect(timeout=1.0)


def test_a_closed_port_is_offline_at_once(tmp_path):
    ca = pki.CertificateAuthority.create(tmp_path / "ca", "Egret test")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    line = agentwire.Line("Network node 'gone'", Refused, f"127.0.0.1:{port}", ca.cert_pem, None, connect_timeout=3)
    with pytest.raises(Refused, match="cannot be reached"):
        line.connect(timeout=60)
