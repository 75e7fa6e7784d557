-- Frozen on purpose: this is the schema the first release created, written out instead of derived from
-- the live models, so that a later migration always starts from a fixed point. Never edit it; change
-- the schema in a new numbered migration (tests/unit/appliance/test_db_migrations.py checks that the
-- baseline plus every migration equals the models). {timestamp}, {bool} and {bigint} are the column
-- types that differ between SQLite and PostgreSQL (appliance.db.BASELINE_TYPES).
CREATE TABLE IF NOT EXISTS "flavor" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "ram" INTEGER NOT NULL,
    "vcpus" INTEGER NOT NULL,
    "disk" INTEGER NOT NULL,
    "swap" INTEGER NOT NULL,
    "ephemeral" INTEGER NOT NULL,
    "rxtx_factor" REAL NOT NULL,
    "is_public" {bool} NOT NULL,
    "disabled" {bool} NOT NULL,
    "description" TEXT,
    "extra_specs" TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "flavor_name" ON "flavor" ("name");
CREATE TABLE IF NOT EXISTS "flavor_access" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "flavor_id" VARCHAR(64) NOT NULL,
    "project_id" VARCHAR(255) NOT NULL,
    FOREIGN KEY ("flavor_id") REFERENCES "flavor" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "flavor_access_flavor_id" ON "flavor_access" ("flavor_id");
CREATE UNIQUE INDEX IF NOT EXISTS "flavor_access_flavor_id_project_id" ON "flavor_access" ("flavor_id", "project_id");
CREATE TABLE IF NOT EXISTS "instance" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "project_id" VARCHAR(255) NOT NULL,
    "user_id" VARCHAR(255) NOT NULL,
    "flavor" TEXT NOT NULL,
    "old_flavor" TEXT,
    "image_ref" VARCHAR(255) NOT NULL,
    "image" TEXT,
    "key_name" VARCHAR(255),
    "key_data" TEXT,
    "user_data" TEXT,
    "metadata" TEXT NOT NULL,
    "tags" TEXT NOT NULL,
    "description" TEXT,
    "hostname" VARCHAR(255) NOT NULL,
    "vm_state" VARCHAR(255) NOT NULL,
    "task_state" VARCHAR(255),
    "power_state" INTEGER NOT NULL,
    "host" VARCHAR(255) NOT NULL,
    "domain_name" VARCHAR(255) NOT NULL,
    "availability_zone" VARCHAR(255) NOT NULL,
    "security_groups" TEXT NOT NULL,
    "config_drive" {bool} NOT NULL,
    "requested_networks" TEXT NOT NULL,
    "ports" TEXT NOT NULL,
    "fault" TEXT,
    "locked" {bool} NOT NULL,
    "locked_reason" TEXT,
    "server_group_id" VARCHAR(255),
    "launch_index" INTEGER NOT NULL,
    "reservation_id" VARCHAR(255) NOT NULL,
    "access_ipv4" VARCHAR(255) NOT NULL,
    "access_ipv6" VARCHAR(255) NOT NULL,
    "boot_from_volume" {bool} NOT NULL,
    "launched_at" {timestamp},
    "terminated_at" {timestamp},
    "deleted" {bool} NOT NULL
);
CREATE INDEX IF NOT EXISTS "instance_project_id" ON "instance" ("project_id");
CREATE INDEX IF NOT EXISTS "instance_vm_state" ON "instance" ("vm_state");
CREATE INDEX IF NOT EXISTS "instance_deleted" ON "instance" ("deleted");
CREATE TABLE IF NOT EXISTS "key_pair" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "user_id" VARCHAR(255) NOT NULL,
    "public_key" TEXT NOT NULL,
    "fingerprint" VARCHAR(255) NOT NULL,
    "type" VARCHAR(255) NOT NULL
);
CREATE INDEX IF NOT EXISTS "key_pair_user_id" ON "key_pair" ("user_id");
CREATE UNIQUE INDEX IF NOT EXISTS "key_pair_user_id_name" ON "key_pair" ("user_id", "name");
CREATE TABLE IF NOT EXISTS "quota" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "project_id" VARCHAR(255) NOT NULL,
    "resource" VARCHAR(255) NOT NULL,
    "hard_limit" INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "quota_project_id_resource" ON "quota" ("project_id", "resource");
CREATE TABLE IF NOT EXISTS "server_group" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "project_id" VARCHAR(255) NOT NULL,
    "user_id" VARCHAR(255) NOT NULL,
    "policy" VARCHAR(255) NOT NULL,
    "rules" TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS "server_group_project_id" ON "server_group" ("project_id");
CREATE TABLE IF NOT EXISTS "volume_attachment" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "instance_id" VARCHAR(64) NOT NULL,
    "volume_id" VARCHAR(255) NOT NULL,
    "attachment_id" VARCHAR(255),
    "device" VARCHAR(255) NOT NULL,
    "boot_index" INTEGER,
    "delete_on_termination" {bool} NOT NULL,
    "tag" VARCHAR(255),
    "connection_info" TEXT,
    FOREIGN KEY ("instance_id") REFERENCES "instance" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "volume_attachment_instance_id" ON "volume_attachment" ("instance_id");
CREATE INDEX IF NOT EXISTS "volume_attachment_volume_id" ON "volume_attachment" ("volume_id");
