"""PostgreSQL for tests: the session's private server (appliance/pgserver.py) and a fresh database per test."""
from __future__ import annotations

import uuid

import psycopg2

from appliance.pgserver import PostgresServer  # noqa: F401 (the test session's server; the plugin starts it)


def admin_sql(server_url: str, sql: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE cannot run inside one)."""
    conn = psycopg2.connect(server_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def new_database(server_url: str, prefix: str) -> str:
    """A new, empty database on the test server (for one test); returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin_sql(server_url, f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + "/" + name


def drop_database(server_url: str, database_url: str) -> None:
    """Drop a database new_database made, even with connections still open."""
    admin_sql(server_url, f"DROP DATABASE IF EXISTS {database_url.rsplit('/', 1)[1]} WITH (FORCE)")
