"""RemoteDriver: the compute driver contract, carried out by another node's agent over the site's mTLS."""
from __future__ import annotations

import functools
import http.client
import json
import threading
from pathlib import Path

from appliance import agentwire
from appliance.cluster import nodeagent  # how this box reaches a member's agent
from services.compute.drivers import base, codec

CONNECT_TIMEOUT = 3.0     # a node that does not accept a connection in this long is taken as offline
CALL_TIMEOUT = 60.0       # a quick call (power state, pause, XML) that has not answered by then never will
LONG_TIMEOUT = 900.0      # booting, disk and image work: minutes on a busy TCG host
# the contract methods that may legitimately take minutes (a name that is not a method here is harmless)
LONG_CALLS = frozenset({"spawn", "define", "cache_image", "create_root_disk", "grow_root_disk", "export_root_disk",
                        "import_root_disk", "create_overlay", "grow_disk", "copy_disk", "write_config_drive",
                        "delete_instance_files"})
ARGS_HEADER = "X-Egret-Arguments"
BLOCK = 1 << 16
LOCAL = frozenset({"host_caps", "cached_caps", "refresh_caps"})   # written below: the node's caps, kept


class RemoteDriver(base.ComputeDriver):
    """Every public method of base.ComputeDriver is one `POST /v1/driver/<method>` to the node's agent."""

    def __init__(self, node: str, address: str, ca_pem: str, cert: tuple[Path, Path] | None, *,
                 prefix: str | None = None, connect_timeout: float = CONNECT_TIMEOUT, call_timeout: float = CALL_TIMEOUT,
                 long_timeout: float = LONG_TIMEOUT):
        self.node = node
        self._line = agentwire.Line(f"Compute node '{node}'", base.DriverError, address, ca_pem, cert, connect_timeout)
        self.host, self.port = self._line.host, self._line.port
        self._prefix = prefix   # None: the node's own, asked once (domain_prefix)
        self.connect_timeout, self.call_timeout, self.long_timeout = connect_timeout, call_timeout, long_timeout
        self._caps: base.HostCaps | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_node(cls, settings, node: str, host: str) -> RemoteDriver:
        """The driver for a site member's agent, as this box's node certificate (the control plane's) reaches it."""
        return cls(node, *nodeagent.reach(settings, host, "compute_agent"))

    def __repr__(self) -> str:
        return f"RemoteDriver({self.node!r} at {self.host}:{self.port})"

    # -- the node's capabilities: asked once, then kept until the capacity refresh asks again ----------------
    def host_caps(self) -> base.HostCaps:
        with self._lock:
            if self._caps is None:
                self._caps = self._invoke(codec.METHODS["host_caps"], (), {})
            return self._caps

    def cached_caps(self) -> base.HostCaps | None:
        return self._caps

    def refresh_caps(self) -> base.HostCaps:
        with self._lock:
            self._caps = self._invoke(codec.METHODS["refresh_caps"], (), {})   # the agent's driver asks again
            return self._caps

    @property
    def prefix(self) -> str:
        """The node's domain-name prefix (its agent's driver's), asked once and kept."""
        if self._prefix is None:
            self._prefix = self.domain_prefix()
        return self._prefix

    # -- the wire --------------------------------------------------------------------------------------------------
    def _invoke(self, m: codec.Method, args: tuple, kwargs: dict):
        arguments = codec.encode_args(m, args, kwargs)
        timeout = self.long_timeout if m.name in LONG_CALLS else self.call_timeout
        # a call that itself waits (power_off(timeout=...)) gets that long on top
        waits = arguments.get("timeout")
        if isinstance(waits, (int, float)) and not isinstance(waits, bool):
            timeout += max(0.0, float(waits))
        conn = self._line.connect(timeout)
        path = f"/v1/driver/{m.name}"
        try:
            if m.streams_in:
                bound = m.signature.bind(None, *args, **kwargs)
                chunks = bound.arguments.get(codec.STREAM_PARAM, ())
                conn.request("POST", path, body=_blocks(chunks), encode_chunked=True,
                             headers={ARGS_HEADER: json.dumps(arguments), "Content-Type": "application/octet-stream",
                                      "Transfer-Encoding": "chunked"})
            else:
                conn.request("POST", path, body=json.dumps(arguments).encode(),
                             headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            if resp.status == 200 and m.streams_out:
                return _stream(self, conn, resp)
            raw = resp.read()
        except _SourceFailed as exc:
            # the upload's own source failed (the image service went away): the connection is cut mid-body, so
            # the agent sees a broken upload and keeps nothing; the caller sees the source's error, not the node's
            conn.close()
            raise exc.__cause__ from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise self._line.unreachable(exc) from None
        except BaseException:
            conn.close()
            raise
        conn.close()
        return self._answer(m, resp.status, raw)

    def _answer(self, m: codec.Method, status: int, raw: bytes):
        try:
            document = json.loads(raw) if raw else {}
        except ValueError:
            document = {}
        if status == 200:
            try:
                return codec.decode(document.get("result"), "result")
            except (codec.CodecError, AttributeError) as exc:
                raise base.DriverError(f"Compute node '{self.node}' answered {m.name} with {exc}.") from None
        if status == 422 and isinstance(document.get("driver_error"), dict):
            raise codec.decode_error(document["driver_error"])
        message = (document.get("error") or {}).get("message") if isinstance(document, dict) else None
        raise base.DriverError(f"Compute node '{self.node}' refused {m.name}: {message or 'no reason given'} "
                               f"(HTTP {status}).")


class _SourceFailed(Exception):
    """The iterable being uploaded raised; its exception is the cause."""


def _blocks(chunks):
    """The upload's pieces as http.client sends them (empty pieces would end a chunked body early)."""
    pieces = iter(chunks)
    while True:
        try:
            chunk = next(pieces)
        except StopIteration:
            return
        except Exception as exc:
            raise _SourceFailed() from exc
        if chunk:
            yield bytes(chunk)


def _stream(driver: RemoteDriver, conn, resp):
    """The response body, piece by piece; a connection cut mid-way is an error, never a short, silent end."""
    try:
        while True:
            block = resp.read(BLOCK)
            if not block:
                return
            yield block
    except (OSError, http.client.HTTPException) as exc:
        raise base.DriverError(f"Compute node '{driver.node}' broke off a stream: {exc or type(exc).__name__}.") \
            from None
    finally:
        conn.close()


def _proxy(m: codec.Method):
    def call(self, *args, **kwargs):
        return self._invoke(m, args, kwargs)
    original = getattr(base.ComputeDriver, m.name)
    functools.update_wrapper(call, original)
    return call


# every public contract method, as base.py defines it now (methods added there are carried without an edit here)
for _m in codec.METHODS.values():
    if _m.name not in LOCAL:
        setattr(RemoteDriver, _m.name, _proxy(_m))
del _m
