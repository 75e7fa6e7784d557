"""Move a box's service databases from their SQLite files into PostgreSQL: same schema, every row, verified."""
from __future__ import annotations

import contextlib
import fcntl
import grp
import importlib.util
import logging
import os
import pkgutil
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import peewee
import psycopg2
from psycopg2 import sql
from psycopg2.extras import execute_values

from appliance import db, pgserver
from appliance.dbrows import RowError, TableDigest, convert
from appliance.manifest import load_manifest
from appliance.stateplan import GROUP

log = logging.getLogger(__name__)

MIGRATIONS_TABLE = db.AppliedMigration._meta.table_name
BATCH = 500
# the settings file `egret db move` writes; config.load() reads config_dir/*.toml in name order
SETTINGS_FILE = "50-database.toml"
MOVED_SUFFIX = ".moved"


class MoveError(Exception):
    """A move refused or failed; the message says why (passwords masked) and that nothing was changed."""


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for output and logs."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def mask_text(text: str, *urls: str) -> str:
    """`text` with every password of `urls` masked (driver errors may repeat the connection string)."""
    for url in urls:
        password = urlparse(url).password
        text = text.replace(url, mask_url(url))
        if password:
            text = text.replace(password, "***").replace(unquote(password), "***")
    return text


def target_for(url: str, service: str) -> str:
    """A service's own PostgreSQL database: the URL's {service}, or its database name + '_<service>'."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgresql", "postgres"):
        raise MoveError(f"--to must be a postgresql:// URL, not {mask_url(url)!r}")
    if "{service}" in url:
        return url.replace("{service}", service)
    name = parsed.path.lstrip("/")
    if not name:
        raise MoveError(f"the URL {mask_url(url)!r} names no database (postgresql://user:pw@host/egret_{{service}})")
    return parsed._replace(path=f"/{name}_{service}").geturl()


def url_template(url: str) -> str:
    """The database_url the services read: with {service}, whichever form --to had."""
    return url if "{service}" in url else target_for(url, "{service}")


def migrations_package(app_target: str) -> str | None:
    """The migrations package of a unit (services.compute.migrations, appliance.cluster.migrations), if any.

    Found on disk: importing a service package to ask would run its whole app code (and fail with it)."""
    module = app_target.split(":")[0]
    parts = module.split(".")
    top = importlib.util.find_spec(parts[0])
    if top is None or not top.submodule_search_locations:
        return None
    base = Path(list(top.submodule_search_locations)[0]).joinpath(*parts[1:])
    # a package's app (services.compute) keeps them inside it; a module's app (appliance.cluster.service) beside
    # itself, in its package
    where, package = (base, module) if base.is_dir() else (base.parent, module.rpartition(".")[0])
    if (where / "migrations" / "__init__.py").exists():
        return f"{package}.migrations"
    return None


def migration_names(package: str) -> list[str]:
    spec = importlib.util.find_spec(package)
    return sorted(m.name for m in pkgutil.iter_modules(spec.submodule_search_locations) if m.name[:4].isdigit())


@dataclass
class Plan:
    """One service's move: its SQLite file, its migrations package and its PostgreSQL database."""
    service: str
    package: str
    source: Path
    target: str


def plan(settings, to: str) -> list[Plan]:
    """Every service database this box has (each manifest unit with migrations whose SQLite file exists)."""
    plans, seen = [], set()
    for unit in load_manifest().values():
        package = migrations_package(unit.app)
        if unit.service in seen or package is None:
            continue
        seen.add(unit.service)
        url = settings.database_for(unit.service)  # the default, or an operator's own sqlite:/// path
        source = Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None
        if source is not None and source.exists():
            plans.append(Plan(unit.service, package, source, target_for(to, unit.service)))
    return plans


# --- SQLite side ------------------------------------------------------------------------------------------------


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return sorted(r[0] for r in rows)


def check_source(conn: sqlite3.Connection, p: Plan) -> None:
    """Refuse a SQLite file that is not exactly at this code's schema, or holds rows whose parent is gone."""
    if MIGRATIONS_TABLE not in sqlite_tables(conn):
        raise MoveError(f"{p.service}: {p.source} has no migrations table; run `egret migrate` first")
    applied = {r[0] for r in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
    known = set(migration_names(p.package))
    if known - applied:
        raise MoveError(f"{p.service}: {p.source} has unapplied migrations ({', '.join(sorted(known - applied))}); "
                        "run `egret migrate` first")
    if applied - known:
        raise MoveError(f"{p.service}: {p.source} has migrations this release does not know "
                        f"({', '.join(sorted(applied - known))}): move it with the release that made them")
    orphans = conn.execute("PRAGMA foreign_key_check").fetchall()
    if orphans:
        table, rowid, parent = orphans[0][:3]
        raise MoveError(f"{p.service}: {len(orphans)} row(s) refer to rows that are gone (first: {table} rowid "
                        f"{rowid} -> {parent}); PostgreSQL would refuse them")


def sqlite_sequence(conn: sqlite3.Connection) -> dict[str, int]:
    """AUTOINCREMENT high-water marks (they may lie past max(id) after deletes: ids are never reused)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        return {}
    return {name: int(seq) for name, seq in conn.execute("SELECT name, seq FROM sqlite_sequence")}


def self_references(conn: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    return [(r[3], r[4]) for r in conn.execute(f"PRAGMA foreign_key_list({_q(table)})") if r[2] == table]


# --- PostgreSQL side --------------------------------------------------------------------------------------------


def pg_tables(database: peewee.Database) -> list[str]:
    cursor = database.execute_sql("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                                  "current_schema() AND table_type = 'BASE TABLE'")
    return sorted(r[0] for r in cursor.fetchall())


def pg_columns(database: peewee.Database, table: str) -> dict[str, str]:
    cursor = database.execute_sql("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema "
                                  "= current_schema() AND table_name = %s ORDER BY ordinal_position", (table,))
    return dict(cursor.fetchall())


def pg_foreign_keys(database: peewee.Database) -> list[tuple[str, str]]:
    cursor = database.execute_sql(
        "SELECT cl.relname, fcl.relname FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid "
        "JOIN pg_class fcl ON fcl.oid = c.confrelid JOIN pg_namespace n ON n.oid = cl.relnamespace "
        "WHERE c.contype = 'f' AND n.nspname = current_schema()")
    return cursor.fetchall()


def pg_sequence_columns(database: peewee.Database) -> list[tuple[str, str]]:
    cursor = database.execute_sql(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND (column_default LIKE %s OR is_identity = 'YES')", ("nextval(%",))
    return cursor.fetchall()


def pg_row_counts(database: peewee.Database, tables) -> dict[str, int]:
    counts = {}
    for table in tables:
        counts[table] = database.execute_sql(f"SELECT count(*) FROM {_q(table)}").fetchone()[0]
    return counts


def fk_order(tables: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Tables with every referenced table before the tables that refer to it (self-references aside)."""
    parents = {t: set() for t in tables}
    for child, parent in edges:
        if child != parent and child in parents:
            parents[child].add(parent)
    ordered, done = [], set()
    while len(ordered) < len(tables):
        ready = [t for t in tables if t not in done and parents[t] <= done]
        if not ready:
            stuck = sorted(t for t in tables if t not in done)
            raise MoveError(f"foreign keys form a cycle between {', '.join(stuck)}; cannot order the copy")
        for t in ready:
            ordered.append(t)
            done.add(t)
    return ordered


def parents_first(rows: list[tuple], columns: list[str], refs: list[tuple[str, str]]) -> list[tuple]:
    """A self-referencing table's rows, each after the row it points at."""
    links = [(columns.index(frm), columns.index(to)) for frm, to in refs]
    placed: dict[int, set] = {to: set() for _, to in links}
    pending, out = list(rows), []
    while pending:
        rest = []
        for row in pending:
            if all(row[frm] is None or row[frm] in placed[to] or row[frm] == row[to] for frm, to in links):
                out.append(row)
                for _, to in links:
                    placed[to].add(row[to])
            else:
                rest.append(row)
        if len(rest) == len(pending):
            raise MoveError(f"{len(rest)} row(s) refer to each other in a cycle or to rows that are gone")
        pending = rest
    return out


# --- one service ------------------------------------------------------------------------------------------------


@dataclass
class ServiceMove:
    """One service's move, holding its PostgreSQL transaction open until commit() (or rollback())."""
    plan: Plan
    tables: dict = field(default_factory=dict)  # table -> {"rows": n, "sha256": ...}
    seconds: float = 0.0
    created_database: bool = False

    def __post_init__(self):
        self._stack = contextlib.ExitStack()
        self._sqlite: sqlite3.Connection | None = None
        self._pg: peewee.Database | None = None

    @property
    def rows(self) -> int:
        return sum(t["rows"] for t in self.tables.values())

    def report(self) -> dict:
        return {"service": self.plan.service, "source": str(self.plan.source), "target": mask_url(self.plan.target),
                "rows": self.rows, "tables": self.tables, "seconds": round(self.seconds, 3)}

    def prepare(self) -> None:
        """Check both sides, create the schema with the service's migrations, copy every table, verify."""
        started = time.monotonic()
        p = self.plan
        # a write lock for the whole move: no service can change the file between the copy and the rename
        self._sqlite = sqlite3.connect(str(p.source), isolation_level=None, timeout=10)
        self._sqlite.execute("BEGIN IMMEDIATE")
        check_source(self._sqlite, p)
        self._pg = self._open_target()
        self._stack.enter_context(self._pg.atomic())
        present = [t for t in pg_tables(self._pg) if t != MIGRATIONS_TABLE]
        held = {t: n for t, n in pg_row_counts(self._pg, present).items() if n}
        if held:
            raise MoveError(f"{p.service}: the target {mask_url(p.target)} already holds {sum(held.values())} row(s) "
                            f"({', '.join(f'{t}: {n}' for t, n in sorted(held.items()))}); refusing to mix data")
        # the schema is exactly what a fresh PostgreSQL box gets: the service's own migrations
        db.migrate(self._pg, p.package)
        source_tables = [t for t in sqlite_tables(self._sqlite) if t != MIGRATIONS_TABLE]
        target_tables = [t for t in pg_tables(self._pg) if t != MIGRATIONS_TABLE]
        only = sorted(set(source_tables) ^ set(target_tables))
        if only:
            sides = [f"{t} ({'SQLite' if t in source_tables else 'PostgreSQL'} only)" for t in only]
            raise MoveError(f"{p.service}: tables exist on one side only: {', '.join(sides)}")
        self._check_migrations_match()
        order = fk_order(target_tables, pg_foreign_keys(self._pg))
        # migrations may seed rows (compute's default flavors): the SQLite file holds what became of them (an
        # operator may have deleted one), so the copy replaces them
        for table in reversed(order):
            self._pg.execute_sql(f"DELETE FROM {_q(table)}")
        sequences = sqlite_sequence(self._sqlite)
        for table in order:
            self._copy(table)
        self._set_sequences(sequences)
        self.seconds = time.monotonic() - started

    def _open_target(self) -> peewee.Database:
        try:
            database = db.open_database(self.plan.target)
            database.connect()
            return database
        except peewee.OperationalError as exc:
            if "does not exist" not in str(exc):
                raise MoveError(f"{self.plan.service}: cannot connect to {mask_url(self.plan.target)}: "
                                f"{mask_text(str(exc).strip(), self.plan.target)}") from None
        create_database(self.plan.target)
        self.created_database = True
        database = db.open_database(self.plan.target)
        database.connect()
        return database

    def _check_migrations_match(self) -> None:
        source = {r[0] for r in self._sqlite.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
        target = {r[0] for r in self._pg.execute_sql(f"SELECT name FROM {MIGRATIONS_TABLE}").fetchall()}
        if source != target:
            raise MoveError(f"{self.plan.service}: the target's migrations differ from the SQLite file's "
                            f"({', '.join(sorted(source ^ target))})")

    def _copy(self, table: str) -> None:
        types = pg_columns(self._pg, table)
        source_columns = [r[1] for r in self._sqlite.execute(f"PRAGMA table_info({_q(table)})")]
        only = sorted(set(source_columns) ^ set(types))
        if only:
            raise MoveError(f"{self.plan.service}: table {table!r}: columns exist on one side only: {', '.join(only)}")
        columns = list(types)
        kinds = [types[c] for c in columns]
        cursor = self._sqlite.execute(f"SELECT {', '.join(_q(c) for c in columns)} FROM {_q(table)}")
        refs = self_references(self._sqlite, table)
        # streamed in batches (a bucket may hold a million objects), unless rows must be ordered parent first
        batches = iter(lambda: cursor.fetchmany(BATCH), [])
        if refs:
            ordered = parents_first(cursor.fetchall(), columns, refs)
            batches = (ordered[i:i + BATCH] for i in range(0, len(ordered), BATCH))
        sent = TableDigest(kinds)
        insert = sql.SQL("INSERT INTO {} ({}) VALUES %s").format(
            sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns))
        pg_cursor = self._pg.cursor()
        for rows in batches:
            batch = [tuple(convert(table, c, k, v) for c, k, v in zip(columns, kinds, row)) for row in rows]
            for row in batch:
                sent.add(row)
            execute_values(pg_cursor, insert.as_string(pg_cursor), batch, page_size=BATCH)
        # read back what PostgreSQL now holds, through a server-side cursor in this transaction: the count and
        # checksum must be what was sent
        stored = TableDigest(kinds)
        # (DECLARE by hand: peewee runs psycopg2 in autocommit mode with its own BEGIN, where named cursors refuse)
        pg_cursor.execute(sql.SQL("DECLARE egret_verify NO SCROLL CURSOR FOR SELECT {} FROM {}").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(table)))
        while True:
            pg_cursor.execute("FETCH 5000 FROM egret_verify")
            fetched = pg_cursor.fetchall()
            if not fetched:
                break
            for row in fetched:
                stored.add(row)
        pg_cursor.execute("CLOSE egret_verify")
        if (stored.count, stored.hexdigest()) != (sent.count, sent.hexdigest()):
            raise MoveError(f"{self.plan.service}: table {table!r} did not verify: {sent.count} row(s) in SQLite, "
                            f"{stored.count} in PostgreSQL, checksums {sent.hexdigest()[:12]} vs "
                            f"{stored.hexdigest()[:12]}")
        self.tables[table] = {"rows": sent.count, "sha256": sent.hexdigest()}

    def _set_sequences(self, sqlite_seq: dict[str, int]) -> None:
        """Serial and identity columns continue past the highest id copied, so new rows never collide."""
        for table, column in pg_sequence_columns(self._pg):
            high = self._pg.execute_sql(f"SELECT max({_q(column)}) FROM {_q(table)}").fetchone()[0]
            high = max(high or 0, sqlite_seq.get(table, 0))
            if high:
                self._pg.execute_sql("SELECT setval(pg_get_serial_sequence(%s, %s), %s)", (_q(table), column, high))

    def commit(self) -> None:
        self._stack.close()  # leaves the atomic block normally: COMMIT
        self._close()

    def rollback(self) -> None:
        """Undo this service's side of the move; never raises (the other services must be rolled back too)."""
        try:
            self._stack.__exit__(MoveError, MoveError("rolled back"), None)
        except Exception:  # a connection already gone has rolled back on the server
            log.warning("rollback of %s on %s failed", self.plan.service, mask_url(self.plan.target), exc_info=True)
        finally:
            with contextlib.suppress(Exception):
                self._close()
        if self.created_database:
            with contextlib.suppress(psycopg2.Error):
                drop_database(self.plan.target)

    def _close(self) -> None:
        if self._pg is not None:
            self._pg.close()
        if self._sqlite is not None:
            with contextlib.suppress(sqlite3.Error):
                self._sqlite.execute("ROLLBACK")  # nothing was written: this only drops the lock
                # fold the WAL into the file, so `*.moved` alone holds every row
                self._sqlite.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._sqlite.close()
            self._sqlite = None


def _maintenance_connection(url: str):
    parsed = urlparse(url)
    conn = psycopg2.connect(parsed._replace(path="/postgres").geturl())
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    return conn, parsed.path.lstrip("/")


def _maintenance(url: str, statement: str) -> None:
    conn, name = _maintenance_connection(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL(statement).format(sql.Identifier(name)))
    finally:
        conn.close()


def create_database(url: str) -> None:
    """Create the URL's database (its role needs CREATEDB); a clear refusal otherwise."""
    try:
        _maintenance(url, "CREATE DATABASE {}")
    except psycopg2.Error as exc:
        raise MoveError(f"the database of {mask_url(url)} does not exist and could not be created: "
                        f"{mask_text(str(exc).strip(), url)}") from None


def drop_database(url: str) -> None:
    _maintenance(url, "DROP DATABASE IF EXISTS {}")


def move_service(p: Plan) -> ServiceMove:
    """Move one service alone (prepare, commit); nothing changes on either side when it fails."""
    move = ServiceMove(p)
    try:
        move.prepare()
    except BaseException as exc:
        move.rollback()
        raise _as_move_error(exc, p) from None
    move.commit()
    return move


def _as_move_error(exc: BaseException, p: Plan) -> BaseException:
    if isinstance(exc, MoveError):
        return exc
    if isinstance(exc, (RowError, peewee.DatabaseError, psycopg2.Error, sqlite3.Error)):
        return MoveError(f"{p.service}: {mask_text(str(exc).strip(), p.target)}")
    return exc


# --- the whole box ----------------------------------------------------------------------------------------------


def open_by_others(path: Path) -> list[int]:
    """Processes other than this one with `path` open (a running service would write on after the move)."""
    pids, wanted = [], {str(path.resolve())}
    wanted |= {w + suffix for w in list(wanted) for suffix in ("-wal", "-shm")}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue  # gone, or not ours to look at
        if links & wanted:
            pids.append(int(entry.name))
    return pids


def already_moved(settings) -> None:
    if settings.database_url and not settings.database_url.startswith("sqlite:"):
        raise MoveError(f"this box already uses {mask_url(settings.database_url)}; nothing to move")


def services_running(settings, paths) -> str | None:
    """Why the box's databases are in use (`egret up` on this state dir, or a process holding one of `paths`)."""
    lock = settings.state_dir / "run" / "egret-up.lock"
    if lock.exists():
        with open(lock) as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return "`egret up` is running on this state dir; stop it first"
    for path in paths:
        pids = open_by_others(path) if Path(path).exists() else []
        if pids:
            return f"{path} is open in process(es) {', '.join(map(str, pids))}: stop the services first"
    return None


def check_box(settings, plans: list[Plan]) -> None:
    """Refuse while the services run: what they wrote after the copy would be lost with the SQLite file."""
    already_moved(settings)
    problem = services_running(settings, [p.source for p in plans])
    if problem:
        raise MoveError(problem)


def write_settings(settings, url: str) -> Path:
    """database_url for the services' next start, in the box's settings (config_dir), readable by group egret."""
    path = Path(settings.config_dir) / SETTINGS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)  # one left by a crash may have another mode: O_CREAT would keep it
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with contextlib.suppress(KeyError, PermissionError):
        # the services' users read it as members of group egret (the appliance's config dir is setgid egret too)
        os.chown(tmp, -1, grp.getgrnam(GROUP).gr_gid)
    with os.fdopen(fd, "w") as fh:
        fh.write("# Written by `egret db move`: this box's services keep their state in PostgreSQL.\n"
                 f"# The SQLite files were kept as <state_dir>/<service>.db{MOVED_SUFFIX}.\n"
                 f"database_url = {_toml_string(url)}\n")
    os.replace(tmp, path)
    return path


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def retire(source: Path) -> Path:
    """Keep the SQLite file (and any WAL left) under *.moved, so an operator can go back."""
    moved = source.with_name(source.name + MOVED_SUFFIX)
    for suffix in ("-wal", "-shm"):
        side = source.with_name(source.name + suffix)
        if side.exists():
            if side.stat().st_size == 0 or suffix == "-shm":
                side.unlink()
            else:
                os.replace(side, moved.with_name(moved.name + suffix))
    os.replace(source, moved)
    return moved


def local_target(settings, psql: pgserver.Psql, role: str = "egret", prefix: str = "egret") -> str:
    """The URL template for the PostgreSQL server on this machine (Debian's postgresql package runs and restarts
    it): Egret's role made there with a password kept under the state dir, one database per service."""
    try:
        return pgserver.provision(psql, settings.state_dir, role, prefix=prefix)
    except (OSError, RuntimeError) as exc:
        raise MoveError(f"the local PostgreSQL server ({psql.host}, port {psql.port}) is not usable: {exc}") from None


def move_box(settings, to: str, progress=lambda event: None) -> dict:
    """Move every service database of the box, all or nothing, then point the settings at PostgreSQL."""
    already_moved(settings)
    plans = plan(settings, to)
    if not plans:
        raise MoveError(f"no service database under {settings.state_dir} to move")
    check_box(settings, plans)
    moves = []
    try:
        for p in plans:
            progress({"service": p.service, "phase": "copying", "target": mask_url(p.target)})
            move = ServiceMove(p)
            moves.append(move)
            move.prepare()
            progress({"phase": "verified", **move.report()})
    except BaseException as exc:
        for move in moves:
            move.rollback()
        error = _as_move_error(exc, moves[-1].plan if moves else plans[0])
        if isinstance(error, MoveError):
            raise MoveError(f"{error} (nothing was changed: PostgreSQL rolled back, SQLite files untouched)") from None
        raise
    # every service verified: commit them together, so a refusal above never leaves some services moved
    committed = []
    try:
        for move in moves:
            move.commit()
            committed.append(move)
    except BaseException as exc:
        # rare (the server went away between the last check and COMMIT): undo what can be undone, say the rest
        for move in moves[len(committed):]:
            move.rollback()
        left = [m for m in committed if not m.created_database]
        for move in committed:
            if move.created_database:
                with contextlib.suppress(psycopg2.Error):
                    drop_database(move.plan.target)
        note = (f"; these targets keep the committed rows and must be emptied before a retry: "
                f"{', '.join(mask_url(m.plan.target) for m in left)}" if left else "")
        raise MoveError(f"committing failed ({mask_text(str(exc).strip(), to)}): SQLite files untouched{note}") \
            from None
    retired = {m.plan.service: str(retire(m.plan.source)) for m in moves}
    path = write_settings(settings, url_template(to))
    env_url = os.environ.get("EGRET_DATABASE_URL")
    report = {"services": [m.report() for m in moves], "rows": sum(m.rows for m in moves),
              "settings_file": str(path), "database_url": mask_url(url_template(to)), "kept": retired}
    if env_url:
        report["warning"] = "EGRET_DATABASE_URL is set in this environment and overrides the settings file"
    log.info("moved %d services (%d rows) to %s", len(moves), report["rows"], report["database_url"])
    return report

