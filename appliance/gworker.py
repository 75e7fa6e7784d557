"""Egret's gunicorn worker: gthread, plus an idle timeout on client sockets, gunicorn's own 4xx in the API's
error format, and death with its master (so a restarted master never finds the port still held)."""
from __future__ import annotations

import ctypes
import os
import signal
import ssl
import time

from flask import Flask
from gunicorn import util
from gunicorn.http import errors as herrors
from gunicorn.http.body import LengthReader
from gunicorn.workers.gthread import _DEFER, ThreadWorker

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


class _BodyPending(BaseException):
    """The request's body has not all arrived: give the thread back (a BaseException, so that gunicorn's
    `except Exception` in handle() does not answer it with a 500)."""


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

    # -- bodies arrive before a thread is spent on them ------------------------------------------------------
    def handle(self, conn):
        req = conn.__dict__.pop("egret_req", None)
        try:
            if req is None:
                return super().handle(conn)
            return self._resume(conn, req)
        except _BodyPending:
            return _DEFER  # gunicorn's poller re-enqueues the connection when the client sends more

    def _resume(self, conn, req):
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(self.idle_timeout())
            return self._keepalive_after(conn, self.handle_request(req, conn))
        except _BodyPending:
            raise
        except (herrors.NoMoreData, OSError) as exc:
            self.log.debug("Client went away while sending its body: %s", exc)
        except Exception as exc:
            self.handle_error(req, conn.sock, conn.client, exc)
        return False

    def handle_request(self, req, conn):
        if not self._prefetch(conn, req):
            conn.egret_req = req
            raise _BodyPending()
        return super().handle_request(req, conn)

    def _prefetch(self, conn, req) -> bool:
        """Read what has arrived of a bounded Content-Length body without blocking; True once it is all in the
        parser's buffer (or there is nothing to wait for). A client that stalls mid-body then waits in the
        poller, not in one of the worker's threads."""
        reader = getattr(req.body, "reader", None)
        if not isinstance(reader, LengthReader) or not 0 < reader.length <= self.prefetch_limit():
            return True
        if getattr(req, "_expected_100_continue", False):
            # the client waits for this before it sends the body (gunicorn would send it only once the app runs)
            util.write(conn.sock, b"HTTP/1.1 100 Continue\r\n\r\n")
            req._expected_100_continue = False
        unreader = req.unreader
        have = conn.__dict__.pop("egret_body", None)
        if have is None:
            have = bytearray(unreader.take_buffered())
        eof = False
        timeout = conn.sock.gettimeout()
        conn.sock.settimeout(0.0)
        try:
            while len(have) < reader.length:
                try:
                    data = conn.sock.recv(min(65536, reader.length - len(have)))
                except (BlockingIOError, ssl.SSLWantReadError):
                    break
                if not data:
                    eof = True
                    break
                have += data
        finally:
            conn.sock.settimeout(timeout)
        if len(have) >= reader.length or eof:
            unreader.unread(bytes(have))
            conn.__dict__.pop("egret_deadline", None)
            return True
        # the client has `request_idle_timeout` to send more, and BODY_DEADLINE for all of it
        now = time.monotonic()
        started = conn.__dict__.setdefault("egret_started", now)
        if len(have) > conn.__dict__.get("egret_seen", -1):  # progress: the idle clock restarts
            conn.egret_deadline = min(now + self.idle_timeout(), started + bodies.BODY_DEADLINE)
        conn.egret_body, conn.egret_seen = have, len(have)
        return False

    def murder_pending(self):
        super().murder_pending()
        # connections waiting for the rest of a body: answer 408 (in the API's format) once they stall too long
        now = time.monotonic()
        for conn in [c for c in self.pending_conns if c.__dict__.get("egret_deadline", now + 1) < now]:
            self.pending_conns.remove(conn)
            try:
                self.poller.unregister(conn.sock)
            except (OSError, KeyError, ValueError):
                pass
            self.nr_conns -= 1
            app = self._flask_app(conn.sock)
            if app is not None:
                try:
                    util.write_nonblock(conn.sock, _render(app, errors.ApiError(
                        f"The request body did not arrive within {self.idle_timeout():g} seconds.", status=408)))
                except Exception:  # the client is gone
                    pass
            conn.close()

    def prefetch_limit(self) -> int:
        app = app_for_port(self.wsgi, 0)
        settings = app.extensions.get("egret.settings") if app is not None else None
        return int(getattr(settings, "max_request_body", 1024 * 1024))

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
