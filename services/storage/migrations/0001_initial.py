"""The first storage schema, frozen as DDL: images, volumes, snapshots, types, attachments, quotas, buckets, objects, uploads."""
from pathlib import Path

from appliance.db import run_ddl

# Frozen on purpose: the schema the first release created, written out (0001_initial.sql) instead of
# derived from the live models, so a later migration always starts from a fixed point. Never edit it.
DDL = (Path(__file__).parent / "0001_initial.sql").read_text()


def up(db):
    run_ddl(db, DDL)
