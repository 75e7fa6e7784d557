"""PostgreSQL on this machine: a private server as a plain process (initdb + pg_ctl), and Egret's role on a server."""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

# where `egret db move --local` keeps the password of the role it made (0600, like the other secrets)
PASSWORD_FILE = Path("secrets") / "postgresql-egret.password"
DEBIAN_SOCKET_DIR = "/var/run/postgresql"


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise FileNotFoundError(f"{name} not found; install the postgresql package")
    return candidates[-1]


class Psql:
    """SQL as a server's superuser through psql; as that OS user when we are root (peer authentication, and
    PostgreSQL's own tools refuse to run as root)."""

    def __init__(self, host: str = DEBIAN_SOCKET_DIR, port: int = 5432, user: str = "postgres"):
        self.host, self.port, self.user = host, int(port), user

    def command(self, *cmd: str) -> list[str]:
        return (["runuser", "-u", self.user, "--"] if os.geteuid() == 0 else []) + list(cmd)

    def run(self, sql: str, database: str = "postgres") -> str:
        cmd = self.command(pg_bin("psql"), "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", database,
                           "-v", "ON_ERROR_STOP=1", "-At", "-c", sql)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"psql on {self.host}:{self.port}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout.strip()


def provision(psql: Psql, state_dir: Path, role: str = "egret", url_host: str = "127.0.0.1",
              prefix: str = "egret") -> str:
    """Egret's login role (CREATEDB, so `egret db move` makes one database per service) with a random password
    kept 0600 under the state dir; the same password again on a second run. Returns the database_url template."""
    path = Path(state_dir) / PASSWORD_FILE
    exists = psql.run(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'") == "1"
    # hex: nothing to quote in SQL or in a URL
    password = path.read_text().strip() if path.exists() else secrets.token_hex(24)
    try:
        psql.run(f'{"ALTER" if exists else "CREATE"} ROLE "{role}" LOGIN CREATEDB PASSWORD \'{password}\'')
    except RuntimeError as exc:  # psql may quote the statement back
        raise RuntimeError(str(exc).replace(password, "***")) from None
    if not path.exists():  # kept only once the server took it: a failed run leaves nothing behind
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
    return f"postgresql://{role}:{password}@{url_host}:{psql.port}/{prefix}_{{service}}"


class PostgresServer:
    """A throwaway server as a plain process on a loopback port and a private socket dir (tests, benches)."""

    def __init__(self, base: Path):
        self.base = Path(base)
        if os.geteuid() == 0:
            # the postgres user cannot traverse root's 0700 pytest tmp dirs, so its data lives in /tmp
            self.base = Path(tempfile.mkdtemp(prefix="egret-pg-"))
            self._owned_base = True
        self.data = self.base / "data"
        self.port = free_port()
        self.user = "postgres"
        self.password = secrets.token_hex(16)
        self.psql = Psql("127.0.0.1", self.port, self.user)

    @property
    def url(self) -> str:
        return f"postgresql://egret:{self.password}@127.0.0.1:{self.port}/egret"

    def _run(self, *cmd):
        return subprocess.run(self.psql.command(*cmd), check=True, capture_output=True, text=True)

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            os.chmod(self.base, 0o700)
        self._run(pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user, "--no-sync")
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        self.psql.run(f"CREATE ROLE egret LOGIN SUPERUSER PASSWORD '{self.password}'")
        self.psql.run("CREATE DATABASE egret OWNER egret")

    def create_database(self, name: str) -> str:
        self.psql.run(f"CREATE DATABASE {name} OWNER egret")
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        try:
            self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass
        if getattr(self, "_owned_base", False):
            shutil.rmtree(self.base, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
