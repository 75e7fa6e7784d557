"""The frozen migration baselines: baseline plus every migration equals the models' schema, on both engines."""
import ast
import importlib
import inspect

import peewee
import pytest

from appliance import db
from appliance.testing.postgres import drop_database, new_database
from services.compute import models as compute_models

SERVICES = ("identity", "compute", "network", "storage", "federation")


def models_of(service: str) -> list[type[peewee.Model]]:
    module = importlib.import_module(f"services.{service}.models")
    return getattr(module, "ALL_MODELS", None) or module.ALL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_db(request, tmp_path):
    """Opens empty databases of one engine: SQLite files always, private PostgreSQL databases with --postgres."""
    opened: list[tuple[peewee.Database, str | None]] = []
    server_url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None

    def _new(name: str) -> peewee.Database:
        url = new_database(server_url, name) if server_url else f"sqlite:///{tmp_path}/{name}.db"
        database = db.open_database(url)
        opened.append((database, url if server_url else None))
        return database

    yield _new
    for database, url in opened:
        database.close()
        if url:
            drop_database(server_url, url)


def from_models(database: peewee.Database, service: str) -> None:
    """What the old baseline did: tables straight from the live models."""
    with database.bind_ctx(models_of(service)):
        database.create_tables(models_of(service))


def _pg_columns(database, table):
    cursor = database.execute_sql(
        "SELECT column_name, data_type, character_maximum_length, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s", (table,))
    return sorted(cursor.fetchall())


def _on_delete(database, table):
    if db.engine(database) == "sqlite":
        rows = database.execute_sql(f'PRAGMA foreign_key_list("{table}")').fetchall()
        return sorted((r[3], r[2], r[4], r[6]) for r in rows)  # from, table, to, on_delete
    cursor = database.execute_sql(
        "SELECT kcu.column_name, rc.delete_rule, rc.update_rule FROM information_schema.referential_constraints rc "
        "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = rc.constraint_name "
        "WHERE kcu.table_schema = 'public' AND kcu.table_name = %s", (table,))
    return sorted(cursor.fetchall())


def schema(database: peewee.Database) -> dict:
    """Tables, columns (type, nullability, primary key, default), indexes and foreign keys, as introspected."""
    out = {}
    for table in database.get_tables():
        if table == db.AppliedMigration._meta.table_name:
            continue
        out[table] = {
            "columns": sorted((c.name, c.data_type, c.null, c.primary_key, c.default)
                              for c in database.get_columns(table)),
            "primary_key": database.get_primary_keys(table),
            "indexes": sorted((i.name, tuple(i.columns), i.unique) for i in database.get_indexes(table)),
            "foreign_keys": sorted((f.column, f.dest_table, f.dest_column) for f in database.get_foreign_keys(table)),
            "on_delete": _on_delete(database, table),
        }
        if db.engine(database) == "postgresql":
            # peewee's get_columns says "character varying" without the length; the length is part of the schema
            out[table]["pg_columns"] = _pg_columns(database, table)
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_baseline_plus_migrations_equals_the_models(new_db, service):
    migrated, direct = new_db("migrated"), new_db("direct")
    applied = db.migrate(migrated, f"services.{service}.migrations")
    assert applied[0] == "0001_initial"
    from_models(direct, service)
    got, want = schema(migrated), schema(direct)
    assert sorted(got) == sorted(want)
    for table in want:
        assert got[table] == want[table], table


@pytest.mark.parametrize("service", SERVICES)
def test_a_database_made_by_the_old_baseline_is_accepted(new_db, service):
    database = new_db("old")
    from_models(database, service)
    with database.bind_ctx([db.AppliedMigration]):
        database.create_tables([db.AppliedMigration])
        db.AppliedMigration.create(name="0001_initial")
    before = schema(database)
    assert "0001_initial" not in db.migrate(database, f"services.{service}.migrations")
    assert schema(database) == before


def test_the_baseline_seeds_the_flavors_the_old_one_did(new_db):
    baseline = importlib.import_module("services.compute.migrations.0001_initial")
    migrated, direct = new_db("migrated"), new_db("direct")
    db.migrate(migrated, "services.compute.migrations")
    from_models(direct, "compute")
    with direct.bind_ctx(compute_models.ALL_MODELS):
        for fid, name, ram, vcpus, disk in baseline.DEFAULT_FLAVORS:
            compute_models.Flavor.create(id=fid, name=name, ram=ram, vcpus=vcpus, disk=disk)

    def rows(database):
        with database.bind_ctx(compute_models.ALL_MODELS):
            return sorted({k: v for k, v in r.items() if k not in ("created_at", "updated_at")}.items()
                          for r in compute_models.Flavor.select().dicts())

    assert rows(migrated) == rows(direct)
    assert len(rows(migrated)) == 6


@pytest.mark.parametrize("service", SERVICES)
def test_the_baseline_does_not_import_the_live_models(service):
    baseline = importlib.import_module(f"services.{service}.migrations.0001_initial")
    imported = set()
    for node in ast.walk(ast.parse(inspect.getsource(baseline))):
        if isinstance(node, ast.ImportFrom):
            imported |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
    assert not {m for m in imported if m.startswith("services.")}, imported


def test_ddl_statements_take_the_engines_types(tmp_path):
    script = 'CREATE TABLE "t" (\n    "a" {timestamp} NOT NULL,\n    "b" {bool}\n);\nCREATE INDEX "t_a" ON "t" ("a");\n'
    sqlite = db.open_database(f"sqlite:///{tmp_path}/t.db")
    assert db.ddl_statements(sqlite, script) == ['CREATE TABLE "t" (\n    "a" DATETIME NOT NULL,\n    "b" INTEGER\n)',
                                                 'CREATE INDEX "t_a" ON "t" ("a")']
    postgres = peewee.PostgresqlDatabase("unused")  # never connected: only its engine matters
    assert db.ddl_statements(postgres, script)[0] == 'CREATE TABLE "t" (\n    "a" TIMESTAMP NOT NULL,\n    "b" BOOLEAN\n)'
