"""A private PostgreSQL server started as a plain process (initdb + pg_ctl), for tests and benches."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg2


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise FileNotFoundError(f"{name} not found; install the postgresql package")
    return candidates[-1]


class PostgresServer:
    def __init__(self, base: Path):
        self.base = Path(base)
        if os.geteuid() == 0:
            # the postgres user cannot traverse root's 0700 pytest tmp dirs, so its data lives in /tmp
            self.base = Path(tempfile.mkdtemp(prefix="egret-pg-"))
            self._owned_base = True
        self.data = self.base / "data"
        self.port = _free_port()
        self.user = "postgres"
        self.password = uuid.uuid4().hex

    @property
    def url(self) -> str:
        return f"postgresql://egret:{self.password}@127.0.0.1:{self.port}/egret"

    def _run(self, *cmd, **kw):
        # PostgreSQL refuses to run as root, so its processes run as the postgres user
        if os.geteuid() == 0:
            cmd = ("runuser", "-u", self.user, "--") + cmd
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            os.chmod(self.base, 0o700)
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user, "--no-sync")
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        psql = [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-v", "ON_ERROR_STOP=1",
                "-d", "postgres", "-c"]
        self._run(*psql, f"CREATE ROLE egret LOGIN SUPERUSER PASSWORD '{self.password}'")
        self._run(*psql, "CREATE DATABASE egret OWNER egret")

    def create_database(self, name: str) -> str:
        psql = [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres", "-c"]
        self._run(*psql, f"CREATE DATABASE {name} OWNER egret")
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        try:
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass
        if getattr(self, "_owned_base", False):
            shutil.rmtree(self.base, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
