"""Request bodies every service shares: the size limit (Content-Length and chunked alike), a read deadline,
and JSON parsing that turns hostile documents (deep, invalid Unicode, NUL, huge numbers) into a 400."""
from __future__ import annotations

import io
import json
import math
import socket
import time

from flask import request
from gunicorn.http import errors as gunicorn_errors

from appliance import errors

# a bounded body must arrive within this many seconds in all (the worker's socket timeout covers each read)
BODY_DEADLINE = 60.0
DEFAULT_IDLE_TIMEOUT = 10.0
# read and discard a rejected Content-Length body up to this size, so the client sees our 413 rather than a
# reset connection (gunicorn drains what is left of a chunked one after the response)
DRAIN_LIMIT = 16 * 1024 * 1024
MAX_DEPTH = 32
# SQLite (and every DB column we have) stores signed 64-bit integers
INT_MIN, INT_MAX = -2 ** 63, 2 ** 63 - 1

# what gunicorn raises from wsgi.input when a chunked body's framing is broken or the client went away
GUNICORN_BODY_ERRORS = (gunicorn_errors.ParseException, gunicorn_errors.NoMoreData)


class FramingError(Exception):
    """The body's transfer framing is broken (bad chunk size, missing terminator, truncated)."""


def idle_timeout(settings) -> float:
    return float(getattr(settings, "request_idle_timeout", DEFAULT_IDLE_TIMEOUT))


def bound(limit: int) -> None:
    """Enforce `limit` on this request's body, whatever its framing, and hold a bounded body in memory.

    A chunked body has no Content-Length to compare, so it is read up to limit+1 bytes here; either way the
    body is then served to the view from memory, read within BODY_DEADLINE (slow-drip clients are cut off)."""
    environ = request.environ
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    length = request.content_length
    if not chunked:
        if not length:
            return
        if length > limit:
            _drain(environ["wsgi.input"], length)
            raise errors.PayloadTooLarge(f"Request body is {length} bytes; the limit is {limit}.")
    data = _read(environ["wsgi.input"], min(length, limit + 1) if length and not chunked else limit + 1)
    if len(data) > limit:
        raise errors.PayloadTooLarge(f"Request body is over the limit of {limit} bytes.")
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    request.__dict__.pop("stream", None)


def hang_up() -> None:
    """Stop reading this request's connection (a stalled or garbled body): the answer still goes out, then
    gunicorn sees end-of-input and closes instead of waiting to drain the rest."""
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass


def _read(stream, size: int) -> bytes:
    deadline = time.monotonic() + BODY_DEADLINE
    parts, got = [], 0
    try:
        while got < size:
            if time.monotonic() > deadline:
                raise TimeoutError("request body deadline passed")
            chunk = stream.read(min(65536, size - got))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
    except GUNICORN_BODY_ERRORS as exc:
        raise FramingError(str(exc) or exc.__class__.__name__) from None
    return b"".join(parts)


def _drain(stream, length: int) -> None:
    if length > DRAIN_LIMIT:
        return
    deadline = time.monotonic() + BODY_DEADLINE
    remaining = length
    try:
        while remaining > 0 and time.monotonic() < deadline:
            chunk = stream.read(min(65536, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
    except (OSError, *GUNICORN_BODY_ERRORS):  # a client that gave up is fine: it gets no answer either way
        pass


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes):
    """The JSON document in `raw`, or BadRequest naming what is wrong (and where, for a bad value)."""
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise errors.BadRequest(f"Malformed JSON in request body: nested deeper than {MAX_DEPTH} levels.") from None
    except ValueError as exc:  # includes UnicodeDecodeError
        raise errors.BadRequest(f"Malformed JSON in request body: {exc}.") from None
    check_values(body)
    return body


def check_values(document) -> None:
    """Refuse what JSON allows but no service can store: deep nesting, lone surrogates, NUL, huge numbers."""
    stack = [(document, (), 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise errors.BadRequest(f"Malformed JSON in request body: nested deeper than {MAX_DEPTH} levels.")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_string(key, path + (key,))
                stack.append((item, path + (key,), depth + 1))
        elif isinstance(value, list):
            stack.extend((item, path + (i,), depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            _check_string(value, path)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not INT_MIN <= value <= INT_MAX:
                raise errors.BadRequest(f"Invalid input for field '{_field(path)}': {value} is out of range "
                                        f"(at most {INT_MAX}).")
        elif isinstance(value, float) and not math.isfinite(value):
            raise errors.BadRequest(f"Invalid input for field '{_field(path)}': the number is out of range.")


def _check_string(text: str, path: tuple) -> None:
    if "\x00" in text:
        raise errors.BadRequest(f"Invalid input for field '{_field(path)}': NUL characters are not allowed.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise errors.BadRequest(f"Invalid input for field '{_field(path)}': the string is not valid Unicode "
                                "(a lone surrogate).") from None


def _field(path: tuple) -> str:
    return "/".join(str(p) for p in path) or "/"
