"""A second migration, so that a file can be one migration behind; it seeds a row, as compute's baseline seeds
flavors."""
from appliance.db import run_ddl


def up(db):
    run_ddl(db, 'ALTER TABLE "child" ADD COLUMN "note" TEXT;')
    db.execute_sql("INSERT INTO tree (id, up_id) VALUES ('seed', NULL)")
