"""Founding a site: the control plane's state moves into PostgreSQL first, or the site keeps SQLite and says why."""
from __future__ import annotations

import contextlib
import sqlite3

import peewee
import psycopg2

from appliance import db, dbmove, pgserver
from appliance.cluster import membership
from appliance.image import postgres as image_postgres
from appliance.manifest import load_manifest


def found_site(settings, site_name: str, *, psql: pgserver.Psql | None = None, keep_sqlite: bool = False,
               role: str = "egret", prefix: str = "egret", progress=lambda event: None) -> dict:
    """Found `site_name` on this box. On SQLite, the box's service databases move into the PostgreSQL server on
    this machine first (`egret db move --local`: verified, all or nothing; the services read the settings file it
    writes at their next start). No usable server: the site is founded on SQLite, records why, and refuses
    members until it moves. A move that is refused (the services run) refuses the founding: nothing changed.

    Returns {"site": the site's record, "database": {"engine", "reason"?, "url"?}, "move": the move's report}."""
    existing = membership.check_can_found(settings, site_name)
    if existing:
        return {"site": existing, "database": existing.get("database") or {}, "move": None}
    if not settings.database_for("cluster").startswith("sqlite:"):
        database = {"engine": "postgresql", "url": dbmove.mask_url(settings.database_url)}
        return {"site": membership.found(settings, site_name, database), "database": database, "move": None}
    report, reason = None, "founded with --keep-sqlite" if keep_sqlite else None
    if not keep_sqlite:
        psql = psql or pgserver.Psql()
        try:
            if image_postgres.is_local(psql):
                # on the image the box's own server is off until it founds a site: start it, wait until it answers
                image_postgres.ensure_started(psql)
            psql.run("SELECT 1")  # is there a server we may use? (asking changes nothing on it)
        except (OSError, RuntimeError) as exc:
            reason = (f"no PostgreSQL server on this box: the local PostgreSQL server ({psql.host}, port "
                      f"{psql.port}) is not usable: {exc}")
        else:
            # refused before Egret's role is made on the server: a founding that cannot move changes nothing
            sources = [p.source for p in dbmove.plan(settings, "postgresql://check/egret_{service}")]
            problem = dbmove.services_running(settings, sources)
            if problem:
                raise dbmove.MoveError(f"{problem} (founding moves this box's state into PostgreSQL; nothing was "
                                       "changed)")
            try:
                to = dbmove.local_target(settings, psql, role, prefix=prefix)
            except dbmove.MoveError as exc:  # a server, but not one Egret may have a role on
                reason = f"no PostgreSQL server this box may use: {exc}"
            else:
                plans = dbmove.plan(settings, to)
                if not any(_holds_tables(p.source) for p in plans):
                    # a fresh box: only files a reader opened before any service made its tables (the wizard's
                    # look at identity.db), nothing to move
                    plans = []
                # a refused move (a bad row) raises: the founding is refused with it
                report = dbmove.move_box(settings, to, progress) if plans else start_empty(settings, to)
    if reason:
        database = {"engine": "sqlite", "reason": reason}
    else:
        database = {"engine": "postgresql", "url": report["database_url"]}
    return {"site": membership.found(settings, site_name, database), "database": database, "move": report}


def _holds_tables(path) -> bool:
    """False for a SQLite file without a table (an empty file); a file that cannot be read counts as holding some,
    so the move looks at it and says what is wrong."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return bool(dbmove.sqlite_tables(conn))
    except sqlite3.Error:
        return True


def start_empty(settings, to: str) -> dict:
    """A box with no service database yet (the wizard founds the site before the services first start): each
    service's PostgreSQL database is made (its migrations run when the service starts) and the settings point
    there, all or nothing."""
    made = []
    try:
        for service in sorted({u.service for u in load_manifest().values() if dbmove.migrations_package(u.app)}):
            target = dbmove.target_for(to, service)
            try:
                database = db.open_database(target)
                database.connect()
                database.close()
            except peewee.OperationalError as exc:
                if "does not exist" not in str(exc):
                    raise dbmove.MoveError(f"{service}: cannot connect to {dbmove.mask_url(target)}: "
                                           f"{dbmove.mask_text(str(exc).strip(), target)}") from None
                dbmove.create_database(target)
                made.append(target)
    except BaseException:
        for target in made:
            with contextlib.suppress(psycopg2.Error):
                dbmove.drop_database(target)
        raise
    path = dbmove.write_settings(settings, dbmove.url_template(to))
    return {"services": [], "rows": 0, "settings_file": str(path), "database_url": dbmove.mask_url(
        dbmove.url_template(to)), "kept": {}, "created": [dbmove.mask_url(t) for t in made]}


def unfound(settings, record: dict) -> None:
    """The wizard's rollback of a founding it did on a fresh box: the site files go, and so do the settings file
    and the empty databases start_empty made (a real move is never undone here: it kept the SQLite files)."""
    membership.leave(settings)
    move = record.get("move") or {}
    if move and not move.get("services"):
        (settings.config_dir / dbmove.SETTINGS_FILE).unlink(missing_ok=True)
