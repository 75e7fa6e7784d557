"""SQLite pragmas and the numbered migrations runner."""
import pkgutil
import sys
import threading
import types

import peewee
import pytest

from appliance import db


def _migrations(monkeypatch, modules: dict):
    pkg = types.ModuleType("fake_migs")
    pkg.__path__ = []
    monkeypatch.setitem(sys.modules, "fake_migs", pkg)
    for name, up in modules.items():
        mod = types.ModuleType(f"fake_migs.{name}")
        mod.up = up
        monkeypatch.setitem(sys.modules, f"fake_migs.{name}", mod)
    monkeypatch.setattr(pkgutil, "iter_modules",
                        lambda path: [types.SimpleNamespace(name=n) for n in modules])


def test_sqlite_is_wal_with_foreign_keys(tmp_path):
    database = db.open_database(f"sqlite:///{tmp_path}/x.db")
    database.connect()
    assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1


def test_migrations_apply_in_order_once(tmp_path, monkeypatch):
    order = []
    _migrations(monkeypatch, {
        "0002_second": lambda d: order.append(2),
        "0001_first": lambda d: (order.append(1), d.execute_sql("CREATE TABLE t (x INTEGER)")),
    })
    database = db.open_database(f"sqlite:///{tmp_path}/m.db")
    assert db.migrate(database, "fake_migs") == ["0001_first", "0002_second"]
    assert order == [1, 2]
    assert db.migrate(database, "fake_migs") == []
    assert order == [1, 2]


def test_failed_migration_leaves_no_trace(tmp_path, monkeypatch):
    def bad(d):
        d.execute_sql("CREATE TABLE half (x INTEGER)")
        raise RuntimeError("boom")

    _migrations(monkeypatch, {"0001_bad": bad})
    database = db.open_database(f"sqlite:///{tmp_path}/m.db")
    with pytest.raises(RuntimeError):
        db.migrate(database, "fake_migs")
    assert "half" not in database.get_tables()
    with database.bind_ctx([db.AppliedMigration]):
        assert db.AppliedMigration.select().count() == 0


def test_model_base_stamps_and_ids(tmp_path):
    proxy = peewee.DatabaseProxy()
    Base = db.model_base(proxy)

    class Thing(Base):
        name = peewee.CharField()
        doc = db.JSONField(null=True)

    proxy.initialize(db.open_database(f"sqlite:///{tmp_path}/t.db"))
    proxy.create_tables([Thing])
    t = Thing.create(name="a", doc={"k": [1, 2]})
    assert len(t.id) == 32
    got = Thing.get_by_id(t.id)
    assert got.doc == {"k": [1, 2]}
    assert got.created_at is not None


def test_read_then_write_transactions_wait_for_each_other(tmp_path):
    # Two request threads, each reading then writing in one transaction (a quota check, then a port row),
    # with the reads interleaved. With deferred BEGIN the second writer fails at once with "database is
    # locked"; with the lock taken at BEGIN it waits its turn and both commit.
    proxy = peewee.DatabaseProxy()
    database = db.open_database(f"sqlite:///{tmp_path}/race.db")
    proxy.initialize(database)
    database.execute_sql("CREATE TABLE port (n INTEGER)")
    both_read = threading.Barrier(2, timeout=1)
    errors = []

    def create_port(n):
        try:
            with proxy.atomic():
                proxy.execute_sql("SELECT count(*) FROM port").fetchone()
                try:
                    both_read.wait()  # deferred: both have read; immediate: the other waits in BEGIN
                except threading.BrokenBarrierError:
                    pass
                proxy.execute_sql("INSERT INTO port VALUES (?)", (n,))
        except peewee.OperationalError as exc:
            errors.append(str(exc))
        finally:
            proxy.close()

    threads = [threading.Thread(target=create_port, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r[0] for r in database.execute_sql("SELECT n FROM port")) == [1, 2]
