"""An attachment's iSCSI export record (frozen DDL in 0002_attachment_export.sql)."""
from pathlib import Path

from appliance.db import run_ddl

DDL = (Path(__file__).parent / "0002_attachment_export.sql").read_text()


def up(db):
    # a database made straight from the models (before the baselines were frozen) has the column already; there
    # is no ADD COLUMN IF NOT EXISTS on SQLite
    if "export" not in {c.name for c in db.get_columns("attachment")}:
        run_ddl(db, DDL)
