"""A provider network's TSN schedule and VLAN priority maps (frozen DDL in 0002_time_sensitive.sql)."""
from pathlib import Path

from appliance.db import run_ddl

DDL = (Path(__file__).parent / "0002_time_sensitive.sql").read_text()


def up(db):
    # a database made straight from the models (tests that skip the migrations) has the columns already
    if "tsn" not in {c.name for c in db.get_columns("network")}:
        run_ddl(db, DDL)
