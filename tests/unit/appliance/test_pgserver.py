"""appliance/pgserver.py: Egret's role on a PostgreSQL server (`egret db move --local`), its password kept 0600."""
from __future__ import annotations

import uuid
from urllib.parse import urlparse

import psycopg2
import pytest

from appliance import cli, dbmove, pgserver
from appliance.testing.postgres import admin_sql
from tests.unit.appliance.test_dbmove import PACKAGE, sample_sqlite


@pytest.mark.postgres
def test_provision_makes_a_role_that_can_move_a_box(tmp_path, postgres_url):
    # the session server's superuser, as `--local` reaches Debian's: psql as the postgres user
    psql = pgserver.Psql("127.0.0.1", urlparse(postgres_url).port, "postgres")
    role = f"egret_{uuid.uuid4().hex[:8]}"
    url = pgserver.provision(psql, tmp_path, role=role)
    password_file = tmp_path / pgserver.PASSWORD_FILE
    assert oct(password_file.stat().st_mode & 0o777) == "0o600"
    password = password_file.read_text().strip()
    assert url == f"postgresql://{role}:{password}@127.0.0.1:{psql.port}/egret_{{service}}"
    assert pgserver.provision(psql, tmp_path, role=role) == url  # a second run keeps the role and its password
    sample_sqlite(tmp_path / "sample.db").close()
    target = url.replace("{service}", f"sample{uuid.uuid4().hex[:6]}")
    try:
        # the role is no superuser: it creates its database (CREATEDB) and owns what it moves into it
        move = dbmove.move_service(dbmove.Plan("sample", PACKAGE, tmp_path / "sample.db", target))
        assert move.rows == 9
        with psycopg2.connect(target) as conn, conn.cursor() as cur:
            cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            assert cur.fetchone() == (False,)
        conn.close()
    finally:
        admin_sql(postgres_url, f"DROP DATABASE IF EXISTS {target.rsplit('/', 1)[1]} WITH (FORCE)")
        admin_sql(postgres_url, f'DROP ROLE IF EXISTS "{role}"')


def test_local_without_a_server_says_why_and_changes_nothing(tmp_path, monkeypatch, capsys):
    sample_sqlite(tmp_path / "identity.db").close()
    monkeypatch.setenv("EGRET_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.delenv("EGRET_DATABASE_URL", raising=False)
    code = cli.main(["--state-dir", str(tmp_path), "db", "move", "--local", "--pg-host", str(tmp_path / "nosocket"),
                     "--pg-port", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "the local PostgreSQL server" in err and "not usable" in err
    assert (tmp_path / "identity.db").exists() and not (tmp_path / "etc" / dbmove.SETTINGS_FILE).exists()
    assert not (tmp_path / pgserver.PASSWORD_FILE).exists()
