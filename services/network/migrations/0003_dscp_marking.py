"""QoS DSCP marking rules (frozen DDL in 0003_dscp_marking.sql)."""
from pathlib import Path

from appliance.db import run_ddl

DDL = (Path(__file__).parent / "0003_dscp_marking.sql").read_text()


def up(db):
    run_ddl(db, DDL)   # CREATE ... IF NOT EXISTS: a database made straight from the models has the table already
