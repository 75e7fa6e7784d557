"""Hostile request bodies for property-based tests (malformed, deep, oversized, wrong-type, invalid Unicode), and
checks that a refusal comes in the API's own error format."""
from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.errors import _NOVA_FAULTS as NOVA_FAULTS

LIMIT = 1024 * 1024  # Settings.max_request_body

# a test runs one @given per route; modest examples keep each file well under the two-minute budget. CI replays a
# fixed set of examples (a landing run is reproducible); every local run explores new ones and finds new bugs
FUZZ = settings(max_examples=40, deadline=None, derandomize=bool(os.environ.get("CI")),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])

_leaf = st.none() | st.booleans() | st.integers(-2 ** 40, 2 ** 40) | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(max_size=20)
any_json = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=15)


def nested(depth: int, leaf=0):
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


# values no service can take, wherever they sit
poison = st.one_of(
    st.text(max_size=6).map(lambda t: t + "\ud800"),          # a lone surrogate
    st.text(max_size=6).map(lambda t: "x" + t + "\x00"),      # NUL
    st.integers(min_value=2 ** 63) | st.integers(max_value=-2 ** 63 - 1) | st.just(10 ** 30),
    st.integers(40, 300).map(nested),                         # deeper than the parser allows
)
# a JSON value that is not an object, where a service needs one
not_object = _leaf | st.lists(any_json, max_size=3)


def fill_placeholders(value, target: dict):
    """A valid document with its "{name}" placeholders (in strings, through dicts) filled from `target`."""
    if isinstance(value, str):
        return value.format(**target)
    if isinstance(value, dict):
        return {k: fill_placeholders(v, target) for k, v in value.items()}
    return value


def _dump(value) -> bytes:
    return json.dumps(value).encode()  # ensure_ascii: a lone surrogate travels as "\ud800"


def shaped(wrapper: str | None, fields: list[str]):
    """The route's own document with random (and wrong-typed) field values plus one poisoned field."""
    def build(draw_values):
        values, (field, bad) = draw_values
        doc = {**values, field: bad}
        return _dump({wrapper: doc} if wrapper else doc)
    names = st.sampled_from(fields) if fields else st.text(min_size=1, max_size=8)
    return st.tuples(st.dictionaries(names, any_json, max_size=len(fields) or 3),
                     st.tuples(names, poison)).map(build)


def refused_bodies(wrapper: str | None, fields: list[str]):
    """Bodies a service must refuse with a 4xx, changing nothing."""
    raw_text = st.sampled_from([
        b"{", b'{"a": ', b"[1, 2", b"\x00\x01\x02", b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}',
        b'{"a": "\xff\xfe"}', b"\xef\xbb\xbf{}x", b'{"a": "\\ud800"}', b'{"a": "\\udfff\\ud800"}',
        b'{"a": 1e999}', b'"\\u0000"', b"{" * 1000, b"[" * 100000 + b"]" * 100000,
        b'{"a": ' + b"9" * 5000 + b"}",
    ])
    deep = st.integers(33, 100000).map(lambda n: b"[" * n + b"]" * n)
    wrong_top = not_object.map(_dump) if wrapper is None else \
        not_object.map(lambda v: _dump({wrapper: v}))
    oversized = st.integers(LIMIT + 1, LIMIT + 4096).map(lambda n: b'{"a": "' + b"x" * (n - 9) + b'"}')
    return st.one_of(raw_text, deep, wrong_top, oversized, shaped(wrapper, fields))


# values of the wrong type or shape for most fields, but nothing the parser itself refuses
odd_value = st.one_of(any_json, st.sampled_from(["", " ", "-1", "0", "abc", "10.0.0.0/33", "::", "1.2.3.4/24",
                                                 "00:11:22:33:44:gg", "\u00e9t\u00e9", "x" * 300, "%s%n",
                                                 "../../etc/passwd", "null", "true"]),
                      st.sampled_from([-1, 0, 2 ** 31, 2 ** 63 - 1, -2 ** 63, 1.5, -0.0, 1e308]))


def any_bodies(wrapper: str | None = None, fields: list[str] | None = None, base: dict | None = None):
    """Arbitrary bytes and JSON, the route's document with odd field values, and a valid document (`base`)
    with one or two fields made odd, to reach the managers: never a 5xx (some may even be accepted)."""
    names = st.sampled_from(fields) if fields else st.text(min_size=1, max_size=8)
    loose = st.dictionaries(names, odd_value, max_size=max(3, len(fields or ())))
    loose = loose.map(lambda d: _dump({wrapper: d} if wrapper else d))
    mutated = st.dictionaries(names, odd_value, min_size=1, max_size=2).map(
        lambda d: _dump({wrapper: {**(base or {}), **d}} if wrapper else {**(base or {}), **d}))
    return st.binary(max_size=300) | any_json.map(_dump) | loose | mutated | mutated


def fuzz_route(send, fmt: str, wrapper: str | None, fields: list[str], base: dict | None, snapshot,
               refuse_all: bool = True) -> None:
    """Hostile bodies through `send(raw) -> response`: with `refuse_all`, every refused_bodies example gets a 4xx in
    API format `fmt`; any_bodies examples never get a 5xx; and a refusal leaves `snapshot()` unchanged."""
    before = snapshot()

    @FUZZ
    @given(refused_bodies(wrapper, fields))
    def refused(raw):
        assert_refused(fmt, send(raw))
        assert snapshot() == before

    @FUZZ
    @given(any_bodies(wrapper, fields, base))
    def anything(raw):
        nonlocal before
        resp = send(raw)
        assert resp.status_code < 500, resp.data
        if resp.status_code >= 400:
            assert_refused(fmt, resp)
            assert snapshot() == before
        else:
            before = snapshot()

    if refuse_all:
        refused()
    anything()


def db_rows(database) -> dict:
    """Every row of every table of a service's peewee database: a refused request must leave it unchanged."""
    database.connect(reuse_if_open=True)
    try:
        return {table: sorted(map(repr, database.execute_sql(f'SELECT * FROM "{table}"').fetchall()))
                for table in database.get_tables()}
    finally:
        database.close()


def fields_of(schema: dict, wrapper: str | None) -> list[str]:
    node = schema.get("properties", {}).get(wrapper, {}) if wrapper else schema
    return sorted(node.get("properties", {}))


def error_message(fmt: str, resp) -> str:
    """The message of an error response in API format `fmt`, asserting the format's shape."""
    if fmt == "s3":
        assert resp.mimetype == "application/xml", resp.data
        text = resp.get_data(as_text=True)
        assert "<Error><Code>" in text and "<Message>" in text, text
        return text.split("<Message>", 1)[1].split("</Message>", 1)[0]
    body = resp.get_json()
    assert isinstance(body, dict), resp.data
    if fmt == "keystone":
        assert set(body) == {"error"} and body["error"]["code"] == resp.status_code, body
        return body["error"]["message"]
    if fmt == "nova":  # Nova and Cinder: {"badRequest": {"code", "message"}}
        (fault, inner), = body.items()
        assert fault in NOVA_FAULTS.values(), body
        assert inner["code"] == resp.status_code, body
        return inner["message"]
    if fmt == "neutron":
        assert set(body) == {"NeutronError"} and body["NeutronError"]["type"], body
        return body["NeutronError"]["message"]
    if fmt == "glance":
        assert body["code"] == resp.status_code and body["title"], body
        return body["message"]
    raise AssertionError(f"unknown format {fmt}")


def assert_refused(fmt: str, resp, status: int | tuple = (400, 499), field: str | None = None) -> str:
    """A 4xx (or exactly `status`) in the API's own format; the message names `field` if given."""
    if isinstance(status, int):
        assert resp.status_code == status, (resp.status_code, resp.data[:500])
    else:
        assert status[0] <= resp.status_code <= status[1], (resp.status_code, resp.data[:500])
    message = error_message(fmt, resp)
    assert message, resp.data
    if field:
        assert field in message, message
    return message
