"""Parents, children, a self-referencing tree and a serial counter, on either engine."""
from appliance.db import engine, run_ddl

DDL = """
CREATE TABLE "parent" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "expires_at" {timestamp},
    "enabled" {bool} NOT NULL,
    "size" {bigint},
    "ratio" REAL NOT NULL,
    "doc" TEXT NOT NULL,
    "raw" {blob}
);
CREATE TABLE "child" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "parent_id" VARCHAR(64) NOT NULL,
    FOREIGN KEY ("parent_id") REFERENCES "parent" ("id") ON DELETE CASCADE
);
CREATE TABLE "tree" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "up_id" VARCHAR(64),
    FOREIGN KEY ("up_id") REFERENCES "tree" ("id")
);
CREATE TABLE "counter" (
    "id" {serial},
    "name" TEXT NOT NULL
);
"""


def up(db):
    sqlite = engine(db) == "sqlite"
    script = DDL.replace("{blob}", "BLOB" if sqlite else "BYTEA").replace(
        "{serial}", "INTEGER PRIMARY KEY AUTOINCREMENT" if sqlite else "SERIAL PRIMARY KEY")
    run_ddl(db, script)
