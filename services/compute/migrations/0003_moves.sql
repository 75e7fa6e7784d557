-- Servers moving between nodes: migrations (cold migration, evacuation) and the instance actions that record
-- them. Frozen like the baseline: change the schema in a later numbered migration.
CREATE TABLE IF NOT EXISTS "migration" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "instance_id" VARCHAR(255) NOT NULL,
    "migration_type" VARCHAR(255) NOT NULL,
    "status" VARCHAR(255) NOT NULL,
    "source_compute" VARCHAR(255) NOT NULL,
    "dest_compute" VARCHAR(255) NOT NULL,
    "source_domain" VARCHAR(255) NOT NULL,
    "was_running" {bool} NOT NULL
);
CREATE INDEX IF NOT EXISTS "migration_instance_id" ON "migration" ("instance_id");
CREATE TABLE IF NOT EXISTS "instance_action" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "instance_id" VARCHAR(255) NOT NULL,
    "action" VARCHAR(255) NOT NULL,
    "user_id" VARCHAR(255) NOT NULL,
    "project_id" VARCHAR(255) NOT NULL,
    "message" TEXT,
    "start_time" {timestamp} NOT NULL
);
CREATE INDEX IF NOT EXISTS "instance_action_instance_id" ON "instance_action" ("instance_id");
