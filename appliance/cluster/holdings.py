"""What a box's own cloud holds that a join would lose (servers, volumes, images, ...), and dropping it (--force)."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import peewee

from appliance import config, db

# (service, table, what one row is, the SQL condition for a row that counts): read straight from each service's
# database, because the cluster unit must not import a service. Seeded rows (flavors, the catalog, the admin) and
# the bootstrap's own projects and users do not count: every box has them.
COUNTED = [
    ("compute", "instance", "server", "NOT deleted"),
    ("storage", "volume", "volume", "status <> 'deleted'"),
    ("storage", "snapshot", "volume snapshot", "status <> 'deleted'"),
    ("storage", "image", "image", "status NOT IN ('deleted', 'killed')"),
    ("storage", "bucket", "bucket", "1 = 1"),
    ("network", "network", "network", "NOT external"),
]
# the services whose rows are the box's own resources; identity stays (its admin is how the operator logs in, and a
# member's API units are not the site's anyway)
CLOUD_SERVICES = ("compute", "network", "storage")
# their data beside the database, under the state dir (storage: image, volume and object files)
DATA_DIRS = ("storage",)
# what runs for those resources outside the databases, destroyed by each service's own command (the cluster unit
# reaches a service only that way, as the wizard bootstraps identity): the guests first, then the data plane
# they were plugged into
PURGES = ("compute", "network")
PURGE_TIMEOUT = 300.0


class PurgeError(RuntimeError):
    """A service's purge command failed: nothing was dropped."""


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def count(settings) -> dict[str, int]:
    """{"server": 2, "volume": 1, ...} with only the kinds the box holds; a service without a database holds none."""
    held: dict[str, int] = {}
    for service, table, kind, where in COUNTED:
        n = _count(settings.database_for(service), table, where)
        if n:
            held[kind] = held.get(kind, 0) + n
    return held


def _count(url: str, table: str, where: str) -> int:
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if not path.exists():
            return 0
        # read-only: counting must never create a database file or wait on a writer's lock for long
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
                return 0
            return conn.execute(f'SELECT count(*) FROM "{table}" WHERE {where}').fetchone()[0]
        finally:
            conn.close()
    database = db.open_database(url)
    try:
        database.connect()
    except peewee.OperationalError:
        return 0  # no database for the service: it holds nothing
    try:
        if table not in database.get_tables():
            return 0
        return database.execute_sql(f'SELECT count(*) FROM "{table}" WHERE {where}').fetchone()[0]
    finally:
        database.close()


def describe(held: dict[str, int]) -> str:
    return ", ".join(plural(n, kind) for kind, n in held.items())


def refusal(held: dict[str, int]) -> str:
    return (f"This box holds {describe(held)}; they would be lost when it joins (a member gives up its own cloud): "
            "delete them first, or join with --force to drop them. Nothing was changed.")


def files(settings) -> list[Path]:
    """The SQLite files --force would drop (a running service must not hold them)."""
    urls = [settings.database_for(s) for s in CLOUD_SERVICES]
    return [Path(u[len("sqlite:///"):]) for u in urls if u.startswith("sqlite:///")]


def purge(settings) -> list[str]:
    """`egret compute purge` then `egret network purge`, each in a child with these settings; the lines they
    printed. PurgeError at the first that fails (the databases they read are still there for a retry)."""
    env = {**os.environ, **config.to_env(settings)}
    done: list[str] = []
    for service in PURGES:
        command = f"egret {service} purge"
        try:
            result = subprocess.run([sys.executable, "-m", "appliance.cli", service, "purge"], check=False,
                                    env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    timeout=PURGE_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise PurgeError(f"`{command}` did not finish in {PURGE_TIMEOUT:.0f} s") from None
        if result.returncode != 0:
            why = (result.stderr or result.stdout).strip().splitlines() or [f"exit status {result.returncode}"]
            raise PurgeError(f"`{command}` failed: {why[-1][-300:]}")
        done += [line for line in result.stdout.splitlines() if line.strip()]
    return done


def drop(settings) -> dict[str, list[str]]:
    """Drop the box's own cloud so it starts clean as a member: first what runs for it (purge: guests, data
    plane; PurgeError and nothing dropped if that fails), then its service databases and their data. Returns
    {"purged": lines the purges printed, "dropped": paths and databases}. The caller made sure no service holds
    the files (dbmove.services_running)."""
    purged = purge(settings)
    dropped = []
    for service in CLOUD_SERVICES:
        url = settings.database_for(service)
        if url.startswith("sqlite:///"):
            path = Path(url[len("sqlite:///"):])
            for side in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                if side.exists():
                    side.unlink()
                    if side == path:
                        dropped.append(str(side))
        elif _drop_pg(url):
            dropped.append(_masked(url))
    for name in DATA_DIRS:
        path = Path(settings.state_dir) / name
        if path.is_dir():
            shutil.rmtree(path)
            dropped.append(str(path))
    return {"purged": purged, "dropped": dropped}


def _drop_pg(url: str) -> bool:
    from appliance import dbmove  # psycopg2 and the migrations: only a forced join on PostgreSQL needs them
    dbmove.drop_database(url)
    return True


def _masked(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.hostname}/{parsed.path.lstrip('/')}"
