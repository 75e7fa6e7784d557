"""Nodes: the release each runs (version skew) and when its join was confirmed by a first heartbeat."""
from appliance.db import engine

COLUMNS = {"version": {"sqlite": "VARCHAR(32)", "postgresql": "VARCHAR(32)"},
           "confirmed_at": {"sqlite": "DATETIME", "postgresql": "TIMESTAMP"}}


def up(db):
    # 0001 creates the tables from the live models, so a database made by this release has the columns already
    present = {c.name for c in db.get_columns("node")}
    for name, kinds in COLUMNS.items():
        if name not in present:
            db.execute_sql(f'ALTER TABLE "node" ADD COLUMN "{name}" {kinds[engine(db)]}')
