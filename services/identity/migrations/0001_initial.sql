-- Frozen on purpose: this is the schema the first release created, written out instead of derived from
-- the live models, so that a later migration always starts from a fixed point. Never edit it; change
-- the schema in a new numbered migration (tests/unit/appliance/test_db_migrations.py checks that the
-- baseline plus every migration equals the models). {timestamp}, {bool} and {bigint} are the column
-- types that differ between SQLite and PostgreSQL (appliance.db.BASELINE_TYPES).
CREATE TABLE IF NOT EXISTS "app_credential" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "user_id" VARCHAR(64) NOT NULL,
    "project_id" VARCHAR(64) NOT NULL,
    "description" TEXT NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "roles" TEXT NOT NULL,
    "expires_at" {timestamp},
    "unrestricted" {bool} NOT NULL
);
CREATE INDEX IF NOT EXISTS "app_credential_user_id" ON "app_credential" ("user_id");
CREATE UNIQUE INDEX IF NOT EXISTS "app_credential_user_id_name" ON "app_credential" ("user_id", "name");
CREATE TABLE IF NOT EXISTS "assignment" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "actor_type" VARCHAR(8) NOT NULL,
    "actor_id" VARCHAR(64) NOT NULL,
    "target_type" VARCHAR(8) NOT NULL,
    "target_id" VARCHAR(64) NOT NULL,
    "role_id" VARCHAR(64) NOT NULL
);
CREATE INDEX IF NOT EXISTS "assignment_actor_id" ON "assignment" ("actor_id");
CREATE INDEX IF NOT EXISTS "assignment_target_id" ON "assignment" ("target_id");
CREATE INDEX IF NOT EXISTS "assignment_role_id" ON "assignment" ("role_id");
CREATE UNIQUE INDEX IF NOT EXISTS "assignment_actor_type_actor_id_target_type_target_id_role_id" ON "assignment" ("actor_type", "actor_id", "target_type", "target_id", "role_id");
CREATE TABLE IF NOT EXISTS "credential" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "user_id" VARCHAR(64) NOT NULL,
    "project_id" VARCHAR(64),
    "type" VARCHAR(255) NOT NULL,
    "blob" TEXT NOT NULL,
    "extra" TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS "credential_user_id" ON "credential" ("user_id");
CREATE TABLE IF NOT EXISTS "domain" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(64) NOT NULL,
    "description" TEXT NOT NULL,
    "enabled" {bool} NOT NULL,
    "extra" TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "domain_name" ON "domain" ("name");
CREATE TABLE IF NOT EXISTS "endpoint" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "service_id" VARCHAR(64) NOT NULL,
    "interface" VARCHAR(8) NOT NULL,
    "region_id" VARCHAR(255),
    "url" TEXT NOT NULL,
    "enabled" {bool} NOT NULL
);
CREATE INDEX IF NOT EXISTS "endpoint_service_id" ON "endpoint" ("service_id");
CREATE TABLE IF NOT EXISTS "group" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(64) NOT NULL,
    "domain_id" VARCHAR(64) NOT NULL,
    "description" TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS "group_domain_id" ON "group" ("domain_id");
CREATE UNIQUE INDEX IF NOT EXISTS "group_domain_id_name" ON "group" ("domain_id", "name");
CREATE TABLE IF NOT EXISTS "implied_role" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "prior_role_id" VARCHAR(64) NOT NULL,
    "implied_role_id" VARCHAR(64) NOT NULL
);
CREATE INDEX IF NOT EXISTS "implied_role_prior_role_id" ON "implied_role" ("prior_role_id");
CREATE UNIQUE INDEX IF NOT EXISTS "implied_role_prior_role_id_implied_role_id" ON "implied_role" ("prior_role_id", "implied_role_id");
CREATE TABLE IF NOT EXISTS "membership" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "user_id" VARCHAR(64) NOT NULL,
    "group_id" VARCHAR(64) NOT NULL
);
CREATE INDEX IF NOT EXISTS "membership_user_id" ON "membership" ("user_id");
CREATE INDEX IF NOT EXISTS "membership_group_id" ON "membership" ("group_id");
CREATE UNIQUE INDEX IF NOT EXISTS "membership_user_id_group_id" ON "membership" ("user_id", "group_id");
CREATE TABLE IF NOT EXISTS "project" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(64) NOT NULL,
    "domain_id" VARCHAR(64) NOT NULL,
    "parent_id" VARCHAR(64),
    "description" TEXT NOT NULL,
    "enabled" {bool} NOT NULL,
    "tags" TEXT NOT NULL,
    "extra" TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS "project_domain_id" ON "project" ("domain_id");
CREATE UNIQUE INDEX IF NOT EXISTS "project_domain_id_name" ON "project" ("domain_id", "name");
CREATE TABLE IF NOT EXISTS "region" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "description" TEXT NOT NULL,
    "parent_region_id" VARCHAR(255)
);
CREATE TABLE IF NOT EXISTS "role" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "domain_id" VARCHAR(64),
    "description" TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "role_name_domain_id" ON "role" ("name", "domain_id");
CREATE TABLE IF NOT EXISTS "service" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "type" VARCHAR(255) NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "description" TEXT NOT NULL,
    "enabled" {bool} NOT NULL
);
CREATE INDEX IF NOT EXISTS "service_type" ON "service" ("type");
CREATE TABLE IF NOT EXISTS "user" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "domain_id" VARCHAR(64) NOT NULL,
    "default_project_id" VARCHAR(64),
    "description" TEXT NOT NULL,
    "email" VARCHAR(255),
    "enabled" {bool} NOT NULL,
    "password_hash" TEXT,
    "password_expires_at" {timestamp},
    "extra" TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS "user_domain_id" ON "user" ("domain_id");
CREATE UNIQUE INDEX IF NOT EXISTS "user_domain_id_name" ON "user" ("domain_id", "name");
