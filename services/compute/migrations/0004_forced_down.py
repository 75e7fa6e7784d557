"""An admin's force-down of a node, apart from its heartbeat state (frozen DDL in 0004_forced_down.sql)."""
from pathlib import Path

from appliance.db import run_ddl

DDL = (Path(__file__).parent / "0004_forced_down.sql").read_text()


def up(db):
    # a database made straight from the models (before the baselines were frozen) has the column already; there
    # is no ADD COLUMN IF NOT EXISTS on SQLite
    if "forced_down" not in {c.name for c in db.get_columns("compute_node")}:
        run_ddl(db, DDL)
