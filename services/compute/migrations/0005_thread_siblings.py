"""Each compute node's SMT thread siblings, for hw:cpu_thread_policy (frozen DDL in 0005_thread_siblings.sql)."""
from pathlib import Path

from appliance.db import run_ddl

DDL = (Path(__file__).parent / "0005_thread_siblings.sql").read_text()


def up(db):
    # a database made straight from the models has the column already; SQLite has no ADD COLUMN IF NOT EXISTS
    if "thread_siblings" not in {c.name for c in db.get_columns("compute_node")}:
        run_ddl(db, DDL)
