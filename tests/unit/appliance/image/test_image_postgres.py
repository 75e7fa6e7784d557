"""The image's PostgreSQL server: started only by a founding, waited for, its failures named; the unit it ships."""
from __future__ import annotations

import subprocess

import pytest

from appliance import pgserver
from appliance.cluster import founding, membership
from appliance.image import postgres


class FakePsql:
    """Answers SELECT 1 after `fails` refusals (a server still starting up)."""

    def __init__(self, fails=0, host=pgserver.DEBIAN_SOCKET_DIR, port=5432):
        self.host, self.port, self.fails, self.calls = host, port, fails, 0

    def run(self, sql, database="postgres"):
        self.calls += 1
        if self.calls <= self.fails:
            raise RuntimeError("psql: could not connect to server: No such file or directory")
        return "1"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def _systemctl(rc=0, err=""):
    calls = []

    def run(args, timeout):
        calls.append(args)
        return subprocess.CompletedProcess(["systemctl", *args], rc, "", err)
    return run, calls


def test_a_box_without_the_unit_starts_nothing(tmp_path):
    run, calls = _systemctl()
    assert postgres.ensure_started(FakePsql(), unit_path=tmp_path / "none.service", data_dir=tmp_path / "pg",
                                   systemctl=run) is False
    assert calls == [] and not (tmp_path / "pg").exists()


def test_the_founding_opens_the_condition_starts_the_unit_and_waits_for_connections(tmp_path):
    unit = tmp_path / postgres.UNIT
    unit.write_text("[Unit]\n")
    run, calls = _systemctl()
    clock, psql = Clock(), FakePsql(fails=3)
    assert postgres.ensure_started(psql, unit_path=unit, data_dir=tmp_path / "pg", systemctl=run, clock=clock,
                                   sleep=clock.sleep, poll=1.0) is True
    assert calls == [["start", postgres.UNIT]]
    assert (tmp_path / "pg").is_dir() and (tmp_path / "pg").stat().st_mode & 0o077 == 0
    assert psql.calls == 4 and clock.now == 3.0


def test_a_unit_that_fails_to_start_is_named(tmp_path):
    unit = tmp_path / postgres.UNIT
    unit.write_text("[Unit]\n")
    run, _ = _systemctl(rc=1, err="Job for egret-postgresql.service failed because the control process exited")
    with pytest.raises(RuntimeError, match=r"systemctl start egret-postgresql.service failed: Job for"):
        postgres.ensure_started(FakePsql(), unit_path=unit, data_dir=tmp_path / "pg", systemctl=run)


def test_a_server_that_never_answers_gives_up_at_the_deadline(tmp_path):
    unit = tmp_path / postgres.UNIT
    unit.write_text("[Unit]\n")
    run, _ = _systemctl()
    clock = Clock()
    with pytest.raises(RuntimeError, match="started but accepts no connections: psql: could not connect"):
        postgres.ensure_started(FakePsql(fails=10**6), unit_path=unit, data_dir=tmp_path / "pg", systemctl=run,
                                timeout=30, clock=clock, sleep=clock.sleep)
    assert 30 <= clock.now <= 31


def test_only_the_boxs_own_server_is_started():
    assert postgres.is_local(FakePsql())
    assert postgres.is_local(FakePsql(host="/run/postgresql"))
    assert not postgres.is_local(FakePsql(host="db.example.org"))
    assert not postgres.is_local(FakePsql(port=5433))


def test_the_unit_keeps_its_data_on_the_data_partition_and_stays_off_on_a_standalone_box():
    text = postgres.server_unit("/usr/lib/postgresql/15/bin")
    lines = set(text.splitlines())
    assert "ConditionPathIsDirectory=/var/lib/egret/postgresql" in lines
    assert "BindPaths=/var/lib/egret/postgresql:/var/lib/postgresql" in lines
    assert "StateDirectory=egret/postgresql" in lines and "StateDirectoryMode=0700" in lines
    assert "User=postgres" in lines and "Type=notify" in lines
    start = next(line for line in lines if line.startswith("ExecStart="))
    # loopback only: the site's members reach the founder's database through its services, never directly
    assert start.startswith("ExecStart=/usr/lib/postgresql/15/bin/postgres ") and "listen_addresses=127.0.0.1" in start
    assert "unix_socket_directories=/var/run/postgresql" in start


def test_a_server_that_does_not_start_leaves_the_site_on_sqlite_saying_why(settings, monkeypatch):
    def refuse(psql):
        raise RuntimeError("systemctl start egret-postgresql.service failed: no space left")
    monkeypatch.setattr(postgres, "ensure_started", refuse)
    out = founding.found_site(settings, "lyon", psql=FakePsql())
    assert out["database"]["engine"] == "sqlite"
    assert "egret-postgresql.service failed: no space left" in out["database"]["reason"]
    assert membership.site(settings)["database"]["engine"] == "sqlite"


def test_a_fresh_box_whose_wizard_opened_identity_db_starts_empty_on_postgresql(settings, monkeypatch):
    """The booted image's founder: the wizard's look at identity.db left an empty file; nothing is moved."""
    from appliance import dbmove
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    (settings.state_dir / "identity.db").write_bytes(b"")
    monkeypatch.setattr(postgres, "ensure_started", lambda psql: True)
    monkeypatch.setattr(dbmove, "local_target", lambda *a, **k: "postgresql://egret:pw@127.0.0.1:5432/egret_{service}")
    calls = []
    monkeypatch.setattr(dbmove, "move_box", lambda *a, **k: calls.append("move") or {})
    monkeypatch.setattr(founding, "start_empty", lambda s, to: calls.append("empty") or {"database_url": to})
    out = founding.found_site(settings, "lab", psql=FakePsql())
    assert calls == ["empty"] and out["database"]["engine"] == "postgresql"


def test_only_a_file_without_tables_counts_as_empty(tmp_path):
    import sqlite3
    empty, full, junk = tmp_path / "e.db", tmp_path / "f.db", tmp_path / "j.db"
    empty.write_bytes(b"")
    with sqlite3.connect(full) as conn:
        conn.execute("CREATE TABLE t (x)")
    junk.write_bytes(b"not a database at all, but not empty either" * 100)
    assert not founding._holds_tables(empty)
    assert founding._holds_tables(full) and founding._holds_tables(junk)
