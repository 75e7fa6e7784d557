"""Rows between engines: SQLite values converted to a PostgreSQL column's type, and a checksum both sides agree on."""
from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import struct

from psycopg2.extras import Json


class RowError(ValueError):
    """A SQLite value that the PostgreSQL column cannot hold as it is."""


def _timestamp(value) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # peewee can store epoch seconds; PostgreSQL's columns are naive UTC like utcnow()
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).replace(tzinfo=None)
    return datetime.datetime.fromisoformat(str(value))


def _boolean(value) -> bool:
    if value in (0, 1):  # True/False too
        return bool(value)
    text = str(value).strip().lower()
    if text in ("t", "true", "1"):
        return True
    if text in ("f", "false", "0"):
        return False
    raise ValueError(value)


def _integer(value) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return int(value)


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    text = str(value)
    if "\x00" in text:
        raise ValueError("a NUL character (PostgreSQL text cannot hold one)")
    return text


def _json(value):
    return Json(json.loads(value) if isinstance(value, (str, bytes)) else value)


CONVERTERS = {
    "boolean": _boolean,
    "timestamp without time zone": _timestamp,
    "timestamp with time zone": _timestamp,
    "date": lambda v: v if isinstance(v, datetime.date) else datetime.date.fromisoformat(str(v)),
    "smallint": _integer, "integer": _integer, "bigint": _integer,
    "real": float, "double precision": float,
    "numeric": lambda v: decimal.Decimal(str(v)),
    "bytea": lambda v: bytes(v if isinstance(v, (bytes, bytearray, memoryview)) else str(v).encode()),
    "json": _json, "jsonb": _json,
    "text": _text, "character varying": _text, "character": _text,
}


def convert(table: str, column: str, pg_type: str, value):
    """A SQLite value as the PostgreSQL column `pg_type` takes it; RowError names the table and column."""
    if value is None:
        return None
    converter = CONVERTERS.get(pg_type)
    if converter is None:
        return value
    try:
        return converter(value)
    except (TypeError, ValueError, UnicodeDecodeError, decimal.InvalidOperation) as exc:
        shown = repr(value)[:60]
        raise RowError(f"table {table!r} column {column!r}: cannot store {shown} as {pg_type} ({exc})") from exc


def canonical(pg_type: str, value):
    """One spelling of a value whichever side it was read from, for the checksum."""
    if value is None:
        return None
    if isinstance(value, Json):
        value = value.adapted
    if pg_type == "boolean":
        return "t" if value else "f"
    if pg_type == "real":
        # what a float4 column keeps of a SQLite double: a fresh PostgreSQL box stores the same
        return repr(struct.unpack("f", struct.pack("f", float(value)))[0])
    if pg_type == "double precision":
        return repr(float(value))
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, decimal.Decimal):
        return str(value.normalize())
    if pg_type in ("json", "jsonb"):
        return json.dumps(value, sort_keys=True)
    return str(value) if not isinstance(value, str) else value


class TableDigest:
    """Row count and an order-free checksum of a table's rows (each row hashed, the sorted hashes hashed)."""

    def __init__(self, types: list[str]):
        self.types = types
        self.rows: list[bytes] = []

    def add(self, row) -> None:
        values = [canonical(t, v) for t, v in zip(self.types, row)]
        self.rows.append(hashlib.sha256(json.dumps(values).encode()).digest())

    @property
    def count(self) -> int:
        return len(self.rows)

    def hexdigest(self) -> str:
        return hashlib.sha256(b"".join(sorted(self.rows))).hexdigest()
