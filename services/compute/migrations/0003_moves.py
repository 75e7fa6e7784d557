"""Migrations and instance actions: servers moving between nodes (frozen DDL in 0003_moves.sql)."""
from pathlib import Path

from appliance.db import run_ddl

DDL = (Path(__file__).parent / "0003_moves.sql").read_text()


def up(db):
    run_ddl(db, DDL)
