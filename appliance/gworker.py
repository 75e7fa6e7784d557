"""Egret's gunicorn worker: gthread, plus an idle timeout on client sockets, gunicorn's own 4xx in the API's
error format, and death with its master (so a restarted master never finds the port still held)."""
from __future__ import annotations

import ctypes
import os
import signal

from flask import Flask
from gunicorn import util
from gunicorn.http import errors as herrors
from gunicorn.workers.gthread import ThreadWorker

from appliance import bodies, errors

PR_SET_PDEATHSIG = 1

# gunicorn's request-parsing errors and the status each gets (anything else it calls a client error is a 400)
_STATUS = (
    (herrors.LimitRequestLine, 414, "Request line is too long"),
    (herrors.LimitRequestHeaders, 431, "Request header fields are too large"),
    (herrors.UnsupportedTransferCoding, 501, "Transfer coding is not supported"),
    (herrors.ExpectationFailed, 417, "Expectation failed"),
    (herrors.ForbiddenProxyRequest, 403, "Request forbidden"),
)


def die_with_parent(ppid: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies: an orphaned worker would keep the listening
    socket, and the restarted master would fail with EADDRINUSE until it noticed."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: gunicorn's own parent check still ends the worker, later
        return
    if os.getppid() != ppid:  # the master died before prctl took effect
        os._exit(1)


class EgretWorker(ThreadWorker):
    """gthread with Egret's hardening; `egret up` and `egret serve` run every unit with it."""

    _idle_timeout = None

    def init_process(self):
        die_with_parent(self.ppid)
        super().init_process()

    def _flask_app(self, sock) -> Flask | None:
        try:
            port = sock.getsockname()[1] if sock is not None else 0
        except OSError:
            port = 0
        return app_for_port(self.wsgi, port)

    def idle_timeout(self) -> float:
        if self._idle_timeout is None:
            app = app_for_port(self.wsgi, 0)
            self._idle_timeout = bodies.idle_timeout(app.extensions.get("egret.settings") if app else None)
        return self._idle_timeout

    def enqueue_req(self, conn):
        # gunicorn makes the socket blocking (no timeout) for each request; a client that stops sending its
        # headers or body would hold a thread for ever. TConn.init runs right after, on every request.
        if "init" not in conn.__dict__:
            original, timeout = conn.init, self.idle_timeout()

            def init():
                conn.sock.settimeout(timeout)  # bounds a TLS handshake too (the TLS socket inherits it)
                original()
                conn.sock.settimeout(timeout)
            conn.init = init
        super().enqueue_req(conn)

    def handle_error(self, req, client, addr, exc):
        app = self._flask_app(client)
        if app is None or isinstance(exc, (herrors.InvalidResponseHeader, herrors.InvalidResponseHeaderName)):
            return super().handle_error(req, client, addr, exc)
        status, message = 500, "An unexpected error prevented the server from fulfilling your request."
        if isinstance(exc, (herrors.ParseException, herrors.NoMoreData, ValueError)):
            status, message = 400, f"Malformed request: {exc}"
            for kind, code, text in _STATUS:
                if isinstance(exc, kind):
                    status, message = code, f"{text}: {exc}"
        if status >= 500:
            self.log.exception("Error handling request")
        else:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        try:
            util.write_nonblock(client, _render(app, errors.ApiError(message, status=status)))
        except Exception:  # the client is gone
            self.log.debug("Failed to send error message.")


def app_for_port(wsgi, port: int) -> Flask | None:
    """The Flask app serving `port` behind a unit's port dispatcher (storage: three APIs; compute: API and
    metadata), or the unit's own Flask app."""
    if isinstance(wsgi, Flask):
        return wsgi
    if isinstance(getattr(wsgi, "apps", None), dict):  # services.storage.PortDispatcher
        return wsgi.apps.get(port, wsgi.default)
    if hasattr(wsgi, "metadata_port"):  # services.compute.PortDispatcher
        return wsgi.metadata if str(port) == wsgi.metadata_port else wsgi.api
    return None


def _render(app: Flask, err: errors.ApiError) -> bytes:
    """`err` as the app's own error handler renders it, as raw HTTP/1.1 with Connection: close."""
    with app.test_request_context("/"):
        response = app.make_response(app.handle_user_exception(err))
    body = response.get_data()
    lines = [f"HTTP/1.1 {response.status}", "Connection: close", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in response.headers.items() if k.lower() not in ("content-length", "connection")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
