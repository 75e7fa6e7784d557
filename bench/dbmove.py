#!/usr/bin/env python3
"""`egret db move` throughput: rows moved from SQLite into a private PostgreSQL and verified per second (JSON).

The sample schema of tests/unit/appliance/dbmove_schema: EGRET_BENCH_ROWS parents (timestamp, boolean, bigint,
float, JSON text) and as many children referring to them, moved by appliance.dbmove.move_service (one transaction,
batched inserts, every row read back and checksummed).
"""
from __future__ import annotations

import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance import db, dbmove  # noqa: E402
from appliance.testing.postgres import PostgresServer, new_database  # noqa: E402

PACKAGE = "tests.unit.appliance.dbmove_schema"


def sample(path: Path, n: int) -> None:
    database = db.open_database(f"sqlite:///{path}")
    db.migrate(database, PACKAGE)
    database.close()
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO parent VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
        (f"p{i:08d}", "2026-01-01 00:00:00", None, i % 2, 2 ** 40 + i, 0.5, json.dumps({"i": i, "name": "x" * 40}),
         None) for i in range(n)))
    conn.executemany("INSERT INTO child VALUES (?, ?, ?)", ((f"c{i}", f"p{i:08d}", "note") for i in range(n)))
    conn.execute("COMMIT")
    conn.close()


def main() -> None:
    n = int(os.environ.get("EGRET_BENCH_ROWS", "20000"))
    with tempfile.TemporaryDirectory(prefix="egret-bench-dbmove-") as tmp:
        source = Path(tmp) / "sample.db"
        sample(source, n)
        server = PostgresServer(Path(tmp) / "pg")
        server.start()
        try:
            target = new_database(server.url, "bench")
            started = time.monotonic()
            move = dbmove.move_service(dbmove.Plan("sample", PACKAGE, source, target))
            seconds = time.monotonic() - started
        finally:
            server.stop()
    print(json.dumps({"bench": "dbmove", "rows": move.rows, "seconds": round(seconds, 2),
                      "rows_per_second": round(move.rows / seconds), "tables": len(move.tables),
                      "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
