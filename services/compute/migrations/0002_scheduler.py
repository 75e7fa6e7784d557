"""Compute nodes and allocations: the scheduler's rows (frozen DDL in 0002_scheduler.sql)."""
from pathlib import Path

from appliance.db import run_ddl

DDL = (Path(__file__).parent / "0002_scheduler.sql").read_text()


def up(db):
    run_ddl(db, DDL)
