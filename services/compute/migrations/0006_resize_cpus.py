"""Each flavor's CPUs of a thread-policy server resized in place (frozen DDL in 0006_resize_cpus.sql)."""
from pathlib import Path

from appliance.db import run_ddl

DDL = (Path(__file__).parent / "0006_resize_cpus.sql").read_text()


def up(db):
    # a database made straight from the models has the column already; SQLite has no ADD COLUMN IF NOT EXISTS
    if "resize_cpus" not in {c.name for c in db.get_columns("allocation")}:
        run_ddl(db, DDL)
