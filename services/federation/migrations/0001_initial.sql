-- Frozen on purpose: this is the schema the first release created, written out instead of derived from
-- the live models, so that a later migration always starts from a fixed point. Never edit it; change
-- the schema in a new numbered migration (tests/unit/appliance/test_db_migrations.py checks that the
-- baseline plus every migration equals the models). {timestamp}, {bool} and {bigint} are the column
-- types that differ between SQLite and PostgreSQL (appliance.db.BASELINE_TYPES).
CREATE TABLE IF NOT EXISTS "enrolment_token" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "secret_hash" VARCHAR(64) NOT NULL,
    "expires_at" {timestamp} NOT NULL,
    "created_by" VARCHAR(255) NOT NULL,
    "used_at" {timestamp},
    "used_by" VARCHAR(63)
);
CREATE UNIQUE INDEX IF NOT EXISTS "enrolment_token_secret_hash" ON "enrolment_token" ("secret_hash");
CREATE TABLE IF NOT EXISTS "revoked_certificate" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "cert_serial" VARCHAR(64) NOT NULL,
    "site" VARCHAR(63) NOT NULL,
    "revoked_at" {timestamp} NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "revoked_certificate_cert_serial" ON "revoked_certificate" ("cert_serial");
CREATE TABLE IF NOT EXISTS "site" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(63) NOT NULL,
    "enrolled_at" {timestamp} NOT NULL,
    "last_seen" {timestamp},
    "cert_serial" VARCHAR(64) NOT NULL,
    "cert_fingerprint" VARCHAR(80) NOT NULL,
    "info" TEXT NOT NULL,
    "health" TEXT NOT NULL,
    "inventory" TEXT NOT NULL,
    "report_count" INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "site_name" ON "site" ("name");
