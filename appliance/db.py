"""peewee databases (SQLite WAL or PostgreSQL), the base model and the migrations runner."""
from __future__ import annotations

import datetime
import importlib
import json
import logging
import os
import pkgutil
import re
import uuid
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect as url_connect

log = logging.getLogger(__name__)

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "synchronous": "normal",
}


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)


def new_id() -> str:
    return uuid.uuid4().hex


class SqliteDatabase(peewee.SqliteDatabase):
    """SQLite whose transactions take the write lock up front (BEGIN IMMEDIATE).

    A deferred read-then-write transaction that loses the race for the lock to another writer fails at
    once with "database is locked" (SQLITE_BUSY_SNAPSHOT is not retried by busy_timeout): two servers
    booting together each creating a port hit exactly that. Taking the lock at BEGIN makes the loser
    wait for busy_timeout instead. Autocommit reads stay lock-free (WAL)."""

    def begin(self, lock_type=None):
        super().begin(lock_type or "IMMEDIATE")


def open_database(url: str) -> peewee.Database:
    """Open a database by URL: sqlite:///path or postgresql://user:pw@host/db."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        path = url[len("sqlite:///"):] or ":memory:"
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, check_same_thread=False)
    if scheme in ("postgres", "postgresql"):
        return url_connect(url.replace("postgres://", "postgresql://", 1))
    raise ValueError(f"unsupported database URL scheme {scheme!r}")


class JSONField(peewee.TextField):
    """A JSON document stored as text, portable between SQLite and PostgreSQL."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(peewee.Model):
    """uuid hex primary key with created/updated stamps; subclasses bind a database proxy."""

    id = peewee.CharField(primary_key=True, max_length=64, default=new_id)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    def save(self, *args, **kwargs):
        self.updated_at = utcnow()
        return super().save(*args, **kwargs)


def model_base(proxy: peewee.DatabaseProxy) -> type[BaseModel]:
    """A BaseModel subclass bound to one service's database proxy."""

    class Meta:
        database = proxy
        legacy_table_names = False

    return type("ServiceModel", (BaseModel,), {"Meta": Meta, "__module__": __name__})


class AppliedMigration(peewee.Model):
    name = peewee.CharField(primary_key=True)
    applied_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "egret_migrations"


def open_service_database(settings, service: str, proxy: peewee.DatabaseProxy, *, migrations: bool = True,
                          package: str | None = None):
    """Open `service`'s database, bind its models' proxy to it and (by default) apply its migrations."""
    database = open_database(settings.database_for(service))
    proxy.initialize(database)
    if migrations:
        migrate(database, package or f"services.{service}.migrations")
    return database


def migrate_service(settings, service: str, proxy: peewee.DatabaseProxy, package: str | None = None) -> list[str]:
    """What `egret migrate` runs for one service: apply its pending migrations, then close."""
    database = open_service_database(settings, service, proxy, migrations=False)
    try:
        return migrate(database, package or f"services.{service}.migrations")
    finally:
        database.close()


def migrate(database: peewee.Database, package: str) -> list[str]:
    """Apply the numbered migration modules of `package` (NNNN_name.py with up(db)) not yet applied."""
    pkg = importlib.import_module(package)
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name[:4].isdigit())
    applied = []
    with database.bind_ctx([AppliedMigration]):
        database.create_tables([AppliedMigration], safe=True)
        done = {m.name for m in AppliedMigration.select()}
        for name in names:
            if name in done:
                continue
            module = importlib.import_module(f"{package}.{name}")
            # each migration and its record commit together, so a crash never half-applies one
            with database.atomic():
                module.up(database)
                AppliedMigration.create(name=name)
            log.info("applied migration %s.%s", package, name)
            applied.append(name)
    return applied


# The column types that differ between the engines, as the frozen baselines (services/*/migrations/0001_initial.py)
# spell them: {timestamp}, {bool}, {bigint}. Frozen here rather than read from peewee's field_types, so that a
# peewee upgrade cannot change what a baseline creates.
BASELINE_TYPES = {
    "sqlite": {"timestamp": "DATETIME", "bool": "INTEGER", "bigint": "INTEGER"},
    "postgresql": {"timestamp": "TIMESTAMP", "bool": "BOOLEAN", "bigint": "BIGINT"},
}


def engine(database: peewee.Database) -> str:
    """'sqlite' or 'postgresql': the engines Egret runs on."""
    if isinstance(database, peewee.SqliteDatabase):
        return "sqlite"
    if isinstance(database, peewee.PostgresqlDatabase):
        return "postgresql"
    raise ValueError(f"unsupported database engine {type(database).__name__}")


def ddl_statements(database: peewee.Database, script: str) -> list[str]:
    """A DDL script's statements (each ends with ';' at the end of a line), with the engine's column types."""
    types = BASELINE_TYPES[engine(database)]
    text = re.sub(r"\{(\w+)\}", lambda m: types[m.group(1)], script)
    return [s.strip() for s in re.split(r";[ \t]*$", text, flags=re.M) if s.strip()]


def run_ddl(database: peewee.Database, script: str) -> None:
    """Run a frozen DDL script statement by statement, inside the caller's transaction.

    (sqlite3's executescript would COMMIT first, splitting a migration from its record.)"""
    for statement in ddl_statements(database, script):
        database.execute_sql(statement)
