"""Sites' region, labels, version and decommission time; site groups (frozen DDL in 0002_fleet.sql)."""
from pathlib import Path

from appliance.db import run_ddl

DDL = (Path(__file__).parent / "0002_fleet.sql").read_text()


def up(db):
    # a database made straight from the models has the columns already; SQLite has no ADD COLUMN IF NOT EXISTS
    if "region" not in {c.name for c in db.get_columns("site")}:
        run_ddl(db, DDL)
