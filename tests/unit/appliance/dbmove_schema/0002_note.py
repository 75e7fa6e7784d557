"""A second migration, so that a file can be one migration behind."""
from appliance.db import run_ddl


def up(db):
    run_ddl(db, 'ALTER TABLE "child" ADD COLUMN "note" TEXT;')
