"""appliance/dbmove.py: refusals, masking, conversions and the copy itself on a sample schema (PostgreSQL with
--postgres)."""
from __future__ import annotations

import datetime
import json
import os
import sqlite3
import subprocess
import sys
import time

import psycopg2
import pytest

from appliance import config, db, dbmove
from appliance.dbrows import RowError, TableDigest, convert
from appliance.testing.postgres import new_database

PACKAGE = "tests.unit.appliance.dbmove_schema"
SECRET = "s3cr3t-pw"
UNREACHABLE = f"postgresql://egret:{SECRET}@127.0.0.1:1/egret_{{service}}"
NOW = datetime.datetime(2026, 12, 2, 17, 6, 17, 123456)


def sample_sqlite(path) -> sqlite3.Connection:
    """A migrated sample file with rows of every kind; children and tree rows written before their parents."""
    database = db.open_database(f"sqlite:///{path}")
    db.migrate(database, PACKAGE)
    database.close()
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")  # insert out of order; the file ends consistent
    conn.execute("DELETE FROM tree WHERE id = 'seed'")  # an operator deleted what a migration seeded
    conn.execute("INSERT INTO child VALUES ('c1', 'p1', NULL)")
    conn.execute("INSERT INTO child VALUES ('c2', 'p1', 'a note with \"quotes\" and ünïcode')")
    conn.executemany("INSERT INTO tree VALUES (?, ?)", [("leaf", "mid"), ("mid", "root"), ("root", None)])
    conn.execute("INSERT INTO parent VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 ("p1", str(NOW), None, 1, 2 ** 40 + 7, 1.1, json.dumps({"a": [1, 2], "b": None}), b"\x00\xffraw"))
    conn.execute("INSERT INTO parent VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 ("p2", "2026-01-01 00:00:00", "2027-01-01 00:00:00", 0, None, 0.5, "{}", None))
    conn.executemany("INSERT INTO counter (name) VALUES (?)", [("one",), ("two",), ("three",)])
    conn.execute("DELETE FROM counter WHERE name = 'three'")  # sqlite_sequence stays at 3: ids are not reused
    return conn


def plan_for(tmp_path, target=UNREACHABLE):
    return dbmove.Plan("sample", PACKAGE, tmp_path / "sample.db", dbmove.target_for(target, "sample"))


# --- masking and URLs -------------------------------------------------------------------------------------------


def test_mask_url_hides_the_password_only():
    assert dbmove.mask_url(UNREACHABLE) == "postgresql://egret:***@127.0.0.1:1/egret_{service}"
    assert dbmove.mask_url("postgresql://egret@db/x") == "postgresql://egret@db/x"
    text = f"connection to {UNREACHABLE} failed: password {SECRET} rejected"
    assert SECRET not in dbmove.mask_text(text, UNREACHABLE)


def test_target_per_service():
    assert dbmove.target_for("postgresql://u:p@h/egret", "compute") == "postgresql://u:p@h/egret_compute"
    assert dbmove.target_for("postgresql://u:p@h/x_{service}", "network") == "postgresql://u:p@h/x_network"
    assert dbmove.url_template("postgresql://u:p@h/egret") == "postgresql://u:p@h/egret_{service}"
    with pytest.raises(dbmove.MoveError, match="postgresql://"):
        dbmove.target_for("mysql://u:p@h/egret", "compute")
    with pytest.raises(dbmove.MoveError, match="names no database") as err:
        dbmove.target_for(f"postgresql://u:{SECRET}@h", "compute")
    assert SECRET not in str(err.value)


def test_every_service_database_of_the_box_is_planned(tmp_path):
    settings = config.load(env={"EGRET_CONFIG_DIR": str(tmp_path / "etc")}, state_dir=tmp_path)
    for name in ("identity", "compute", "network", "storage", "cluster", "federation", "firstboot", "stray"):
        (tmp_path / f"{name}.db").touch()
    plans = {p.service: p for p in dbmove.plan(settings, "postgresql://u:p@h/egret")}
    # firstboot has no database of its own; a file no unit owns is not guessed at
    assert sorted(plans) == ["cluster", "compute", "federation", "identity", "network", "storage"]
    assert plans["cluster"].package == "appliance.cluster.migrations"
    assert plans["compute"].package == "services.compute.migrations"
    assert plans["network"].target == "postgresql://u:p@h/egret_network"
    assert plans["identity"].source == tmp_path / "identity.db"
    # an operator's own SQLite location is where the files are read from
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "compute-state.db").touch()
    settings.database_url = f"sqlite:///{tmp_path}/elsewhere/{{service}}-state.db"
    assert [(p.service, p.source) for p in dbmove.plan(settings, "postgresql://u:p@h/egret")] == [
        ("compute", tmp_path / "elsewhere" / "compute-state.db")]


# --- refusals before anything is touched ------------------------------------------------------------------------


def dump(path) -> list[str]:
    """A SQLite file's content as SQL (its bytes change when the move folds the WAL in; its rows must not)."""
    conn = sqlite3.connect(str(path))
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _refused(p, match):
    before = dump(p.source)
    with pytest.raises(dbmove.MoveError, match=match) as err:
        dbmove.move_service(p)
    assert SECRET not in str(err.value)
    assert p.source.exists() and dump(p.source) == before
    return err.value


def test_refuses_an_unapplied_migration(tmp_path):
    sample_sqlite(tmp_path / "sample.db").execute("DELETE FROM egret_migrations WHERE name = '0002_note'")
    _refused(plan_for(tmp_path), r"unapplied migrations \(0002_note\).*egret migrate")


def test_refuses_a_migration_this_release_does_not_know(tmp_path):
    sample_sqlite(tmp_path / "sample.db").execute("INSERT INTO egret_migrations VALUES ('0003_future', '2030-01-01')")
    _refused(plan_for(tmp_path), "0003_future")


def test_refuses_rows_whose_parent_is_gone(tmp_path):
    sample_sqlite(tmp_path / "sample.db").execute("INSERT INTO child VALUES ('orphan', 'nope', NULL)")
    _refused(plan_for(tmp_path), "refer to rows that are gone")


def test_connection_failure_names_the_target_without_its_password(tmp_path):
    sample_sqlite(tmp_path / "sample.db")
    error = _refused(plan_for(tmp_path), "cannot connect to postgresql://egret:\\*\\*\\*@127.0.0.1:1/egret_sample")
    assert SECRET not in str(error)


def test_refuses_while_a_service_holds_the_file(tmp_path):
    settings = config.load(env={"EGRET_CONFIG_DIR": str(tmp_path / "etc")}, state_dir=tmp_path)
    sample_sqlite(tmp_path / "identity.db")
    holder = subprocess.Popen([sys.executable, "-c", "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1]); "
                               "c.execute('select 1'); print('open', flush=True); time.sleep(30)",
                               str(tmp_path / "identity.db")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        plans = [dbmove.Plan("identity", PACKAGE, tmp_path / "identity.db", "postgresql://u:p@h/x")]
        with pytest.raises(dbmove.MoveError, match=f"open in process.*{holder.pid}.*stop the services"):
            dbmove.check_box(settings, plans)
    finally:
        holder.kill()
        holder.wait()
    dbmove.check_box(settings, plans)  # nobody holds it any more


def test_refuses_while_egret_up_runs_and_on_a_box_already_moved(tmp_path):
    settings = config.load(env={"EGRET_CONFIG_DIR": str(tmp_path / "etc")}, state_dir=tmp_path)
    (tmp_path / "run").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1],'a+'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)",
                               str(tmp_path / "run" / "egret-up.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(dbmove.MoveError, match="egret up. is running"):
            dbmove.check_box(settings, [])
    finally:
        holder.kill()
        holder.wait()
    settings.database_url = f"postgresql://egret:{SECRET}@db/egret_{{service}}"
    with pytest.raises(dbmove.MoveError, match="already uses postgresql://egret:\\*\\*\\*@db") as err:
        dbmove.check_box(settings, [])
    assert SECRET not in str(err.value)


def test_settings_file_points_the_services_at_postgresql(tmp_path, monkeypatch):
    import grp
    import types
    env = {"EGRET_CONFIG_DIR": str(tmp_path / "etc")}
    group = grp.getgrall()[-1].gr_gid  # stands in for group egret, which the services' users are members of
    monkeypatch.setattr(dbmove.grp, "getgrnam", lambda name: types.SimpleNamespace(gr_gid=group))
    path = dbmove.write_settings(config.load(env=env, state_dir=tmp_path), 'postgresql://u:p"w@h/egret_{service}')
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    if os.geteuid() == 0:
        assert path.stat().st_gid == group
    reloaded = config.load(env=env, state_dir=tmp_path)
    assert reloaded.database_for("compute") == 'postgresql://u:p"w@h/egret_compute'


# --- pure pieces ------------------------------------------------------------------------------------------------


def test_conversions_and_their_refusals():
    assert convert("t", "c", "boolean", 1) is True and convert("t", "c", "boolean", 0) is False
    assert convert("t", "c", "timestamp without time zone", str(NOW)) == NOW
    assert convert("t", "c", "bigint", 2 ** 62) == 2 ** 62
    assert convert("t", "c", "bytea", b"\x00") == b"\x00"
    assert convert("t", "c", "jsonb", '{"a": 1}').adapted == {"a": 1}
    for kind, bad in (("boolean", "maybe"), ("timestamp without time zone", "yesterday"), ("integer", 1.5),
                      ("text", "nul\x00inside")):
        with pytest.raises(RowError, match="table 't' column 'c'"):
            convert("t", "c", kind, bad)


def test_digest_ignores_order_and_sees_every_value():
    a, b, c = TableDigest(["text", "boolean"]), TableDigest(["text", "boolean"]), TableDigest(["text", "boolean"])
    for row in (("x", True), ("y", False)):
        a.add(row)
    for row in (("y", False), ("x", True)):
        b.add(row)
    for row in (("x", True), ("y", True)):
        c.add(row)
    assert a.hexdigest() == b.hexdigest() != c.hexdigest()


def test_fk_order_and_cycles():
    assert dbmove.fk_order(["child", "parent", "x"], [("child", "parent"), ("x", "x")]) == ["parent", "x", "child"]
    with pytest.raises(dbmove.MoveError, match="cycle between a, b"):
        dbmove.fk_order(["a", "b"], [("a", "b"), ("b", "a")])
    rows = [("leaf", "mid"), ("mid", "root"), ("root", None)]
    assert dbmove.parents_first(rows, ["id", "up_id"], [("up_id", "id")]) == [("root", None), ("mid", "root"),
                                                                               ("leaf", "mid")]


# --- the copy, on PostgreSQL ------------------------------------------------------------------------------------


@pytest.fixture
def pg(postgres_url):
    return new_database(postgres_url, "mv")


def pg_rows(url, query):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            rows = cur.fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def pg_table_names(url):
    return sorted(r[0] for r in pg_rows(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))


@pytest.mark.postgres
def test_move_copies_every_value_and_continues_sequences(tmp_path, pg):
    sample_sqlite(tmp_path / "sample.db").close()
    p = dbmove.Plan("sample", PACKAGE, tmp_path / "sample.db", pg)
    move = dbmove.move_service(p)
    assert {t: v["rows"] for t, v in move.tables.items()} == {"parent": 2, "child": 2, "tree": 3, "counter": 2}
    parents = pg_rows(pg, "SELECT id, created_at, expires_at, enabled, size, ratio, doc, raw FROM parent ORDER BY id")
    assert parents[0][:6] == ("p1", NOW, None, True, 2 ** 40 + 7, pytest.approx(1.1, rel=1e-6))
    assert json.loads(parents[0][6]) == {"a": [1, 2], "b": None} and bytes(parents[0][7]) == b"\x00\xffraw"
    assert parents[1][2:5] == (datetime.datetime(2027, 1, 1), False, None)
    assert pg_rows(pg, "SELECT id FROM tree WHERE id = 'seed'") == []  # deleted on the box, so not there
    assert pg_rows(pg, "SELECT note FROM child WHERE id = 'c2'") == [('a note with "quotes" and ünïcode',)]
    # the schema is the migrations' own: the same tables and migration records a fresh PostgreSQL box has
    assert pg_rows(pg, "SELECT name FROM egret_migrations ORDER BY name") == [("0001_initial",), ("0002_note",)]
    # the serial column continues past SQLite's high-water mark (3, though row 3 was deleted)
    assert pg_rows(pg, "INSERT INTO counter (name) VALUES ('new') RETURNING id") == [(4,)]
    # a second move onto the now non-empty target is refused, and changes nothing
    with pytest.raises(dbmove.MoveError, match=r"already holds 10 row\(s\).*counter: 3"):
        dbmove.move_service(p)
    assert pg_rows(pg, "SELECT count(*) FROM parent") == [(2,)]


@pytest.mark.postgres
def test_a_move_that_fails_half_way_leaves_the_target_empty_and_runs_again(tmp_path, pg):
    conn = sample_sqlite(tmp_path / "sample.db")
    conn.execute("UPDATE parent SET enabled = 'maybe' WHERE id = 'p2'")  # SQLite takes it; PostgreSQL cannot
    p = dbmove.Plan("sample", PACKAGE, tmp_path / "sample.db", pg)
    before = dump(p.source)
    with pytest.raises(dbmove.MoveError, match="table 'parent' column 'enabled'"):
        dbmove.move_service(p)
    assert pg_table_names(pg) == []  # the schema rolled back with the rows
    assert dump(p.source) == before
    conn.execute("UPDATE parent SET enabled = 0 WHERE id = 'p2'")
    conn.close()
    assert dbmove.move_service(p).rows == 9


@pytest.mark.postgres
def test_refuses_a_table_on_one_side_only(tmp_path, pg):
    sample_sqlite(tmp_path / "sample.db").execute("CREATE TABLE handmade (id TEXT)")
    p = dbmove.Plan("sample", PACKAGE, tmp_path / "sample.db", pg)
    _refused(p, r"tables exist on one side only: handmade \(SQLite only\)")
    assert pg_table_names(pg) == []


@pytest.mark.postgres
def test_creates_a_missing_database_and_drops_it_again_on_failure(tmp_path, postgres_url):
    conn = sample_sqlite(tmp_path / "sample.db")
    conn.execute("UPDATE parent SET created_at = 'not a time' WHERE id = 'p1'")
    name = f"mvnew_{int(time.time() * 1000)}"
    target = postgres_url.rsplit("/", 1)[0] + "/" + name
    p = dbmove.Plan("sample", PACKAGE, tmp_path / "sample.db", target)
    with pytest.raises(dbmove.MoveError, match="created_at"):
        dbmove.move_service(p)
    exists = "SELECT datname FROM pg_database WHERE datname = '%s'" % name
    assert pg_rows(postgres_url, exists) == []
    conn.execute("UPDATE parent SET created_at = '2026-01-01 00:00:00' WHERE id = 'p1'")
    assert dbmove.move_service(p).rows == 9
    assert pg_rows(postgres_url, exists) == [(name,)]


@pytest.mark.postgres
def test_a_row_lost_on_the_way_fails_verification_and_rolls_back(tmp_path, pg, monkeypatch):
    sample_sqlite(tmp_path / "sample.db").close()
    real = dbmove.execute_values

    def lossy(cursor, query, rows, **kw):  # a copy that silently drops a row
        return real(cursor, query, rows[:-1] if "child" in query else rows, **kw)

    monkeypatch.setattr(dbmove, "execute_values", lossy)
    p = dbmove.Plan("sample", PACKAGE, tmp_path / "sample.db", pg)
    with pytest.raises(dbmove.MoveError, match=r"table 'child' did not verify: 2 row\(s\) in SQLite, 1 in PostgreSQL"):
        dbmove.move_service(p)
    assert pg_table_names(pg) == []


def test_cli_reads_the_url_from_stdin_and_never_prints_the_password(tmp_path, monkeypatch, capsys):
    import io

    from appliance import cli
    identity = db.open_database(f"sqlite:///{tmp_path / 'identity.db'}")
    db.migrate(identity, "services.identity.migrations")
    identity.close()
    monkeypatch.setenv("EGRET_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.delenv("EGRET_DATABASE_URL", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(UNREACHABLE + "\n"))
    assert cli.main(["--state-dir", str(tmp_path), "db", "move", "--to", "-", "--json"]) == 1
    out = capsys.readouterr()
    error = json.loads(out.out)["error"]
    assert "identity: cannot connect to postgresql://egret:***@127.0.0.1:1/egret_identity" in error
    assert "nothing was changed" in error and SECRET not in out.out + out.err
    assert (tmp_path / "identity.db").exists() and not (tmp_path / "etc" / dbmove.SETTINGS_FILE).exists()


@pytest.fixture
def two_services(tmp_path, postgres_url, monkeypatch):
    """A box of two sample services whose PostgreSQL databases do not exist yet (the move creates them)."""
    template = postgres_url.rsplit("/", 1)[0] + f"/mv{int(time.time() * 1000)}_{{service}}"
    plans = []
    for name in ("one", "two"):
        sample_sqlite(tmp_path / f"{name}.db").close()
        plans.append(dbmove.Plan(name, PACKAGE, tmp_path / f"{name}.db", dbmove.target_for(template, name)))
    monkeypatch.setattr(dbmove, "plan", lambda settings, to: plans)
    settings = config.load(env={"EGRET_CONFIG_DIR": str(tmp_path / "etc")}, state_dir=tmp_path)
    yield settings, template, plans
    for p in plans:
        dbmove.drop_database(p.target)


def database_exists(postgres_url, url):
    name = url.rsplit("/", 1)[1]
    return pg_rows(postgres_url, f"SELECT count(*) FROM pg_database WHERE datname = '{name}'") == [(1,)]


@pytest.mark.postgres
def test_the_box_moves_all_or_nothing(two_services, postgres_url):
    settings, template, plans = two_services
    conn = sqlite3.connect(str(plans[1].source))
    conn.execute("UPDATE parent SET ratio = 'lots' WHERE id = 'p1'")  # the second service cannot move
    conn.commit()
    with pytest.raises(dbmove.MoveError, match="two: table 'parent' column 'ratio'.*nothing was changed"):
        dbmove.move_box(settings, template)
    # the first service had verified, yet nothing of it is left: its database (made by the move) is gone
    assert not any(database_exists(postgres_url, p.target) for p in plans)
    assert all(p.source.exists() for p in plans) and not (settings.config_dir / dbmove.SETTINGS_FILE).exists()
    conn.execute("UPDATE parent SET ratio = 2.5 WHERE id = 'p1'")
    conn.commit()
    conn.close()
    events = []
    report = dbmove.move_box(settings, template, events.append)
    assert [e["phase"] for e in events] == ["copying", "verified", "copying", "verified"]
    assert report["rows"] == 18 and report["database_url"] == dbmove.mask_url(template)
    assert all((p.source.parent / (p.source.name + ".moved")).exists() and not p.source.exists() for p in plans)
    assert config.load(env={"EGRET_CONFIG_DIR": str(settings.config_dir)}).database_url == template


@pytest.mark.postgres
def test_a_failed_commit_undoes_what_it_can_and_says_so(two_services, postgres_url, monkeypatch):
    settings, template, plans = two_services
    real = dbmove.ServiceMove.commit

    def commit(self):
        if self.plan.service == "two":
            raise psycopg2.OperationalError("server closed the connection unexpectedly")
        real(self)

    monkeypatch.setattr(dbmove.ServiceMove, "commit", commit)
    with pytest.raises(dbmove.MoveError, match="committing failed.*server closed.*SQLite files untouched"):
        dbmove.move_box(settings, template)
    assert not any(database_exists(postgres_url, p.target) for p in plans)
    assert all(p.source.exists() for p in plans) and not (settings.config_dir / dbmove.SETTINGS_FILE).exists()
