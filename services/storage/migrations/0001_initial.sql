-- Frozen on purpose: this is the schema the first release created, written out instead of derived from
-- the live models, so that a later migration always starts from a fixed point. Never edit it; change
-- the schema in a new numbered migration (tests/unit/appliance/test_db_migrations.py checks that the
-- baseline plus every migration equals the models). {timestamp}, {bool} and {bigint} are the column
-- types that differ between SQLite and PostgreSQL (appliance.db.BASELINE_TYPES).
CREATE TABLE IF NOT EXISTS "volume_type" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "description" TEXT,
    "is_public" {bool} NOT NULL,
    "extra_specs" TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "volume_type_name" ON "volume_type" ("name");
CREATE TABLE IF NOT EXISTS "volume" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "project_id" VARCHAR(255) NOT NULL,
    "user_id" VARCHAR(255),
    "name" VARCHAR(255),
    "description" TEXT,
    "size" INTEGER NOT NULL,
    "status" VARCHAR(255) NOT NULL,
    "volume_type_id" VARCHAR(64),
    "bootable" {bool} NOT NULL,
    "metadata" TEXT NOT NULL,
    "image_metadata" TEXT NOT NULL,
    "source_volid" VARCHAR(255),
    "snapshot_id" VARCHAR(255),
    "availability_zone" VARCHAR(255) NOT NULL,
    "task" TEXT,
    FOREIGN KEY ("volume_type_id") REFERENCES "volume_type" ("id") ON DELETE SET NULL
);
CREATE INDEX IF NOT EXISTS "volume_project_id" ON "volume" ("project_id");
CREATE INDEX IF NOT EXISTS "volume_status" ON "volume" ("status");
CREATE INDEX IF NOT EXISTS "volume_volume_type_id" ON "volume" ("volume_type_id");
CREATE TABLE IF NOT EXISTS "attachment" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "volume_id" VARCHAR(64) NOT NULL,
    "instance_uuid" VARCHAR(255),
    "connector" TEXT,
    "status" VARCHAR(255) NOT NULL,
    "attach_mode" VARCHAR(255) NOT NULL,
    "mountpoint" VARCHAR(255),
    "attached_at" {timestamp},
    FOREIGN KEY ("volume_id") REFERENCES "volume" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "attachment_volume_id" ON "attachment" ("volume_id");
CREATE TABLE IF NOT EXISTS "bucket" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(63) NOT NULL,
    "project_id" VARCHAR(255) NOT NULL,
    "location" VARCHAR(255) NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "bucket_name" ON "bucket" ("name");
CREATE INDEX IF NOT EXISTS "bucket_project_id" ON "bucket" ("project_id");
CREATE TABLE IF NOT EXISTS "image" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(255),
    "owner" VARCHAR(255),
    "status" VARCHAR(255) NOT NULL,
    "visibility" VARCHAR(255) NOT NULL,
    "protected" {bool} NOT NULL,
    "os_hidden" {bool} NOT NULL,
    "disk_format" VARCHAR(255),
    "container_format" VARCHAR(255),
    "min_disk" INTEGER NOT NULL,
    "min_ram" INTEGER NOT NULL,
    "size" {bigint},
    "virtual_size" {bigint},
    "checksum" VARCHAR(255),
    "os_hash_algo" VARCHAR(255),
    "os_hash_value" VARCHAR(255),
    "tags" TEXT NOT NULL,
    "properties" TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS "image_owner" ON "image" ("owner");
CREATE INDEX IF NOT EXISTS "image_status" ON "image" ("status");
CREATE TABLE IF NOT EXISTS "image_member" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "image_id" VARCHAR(64) NOT NULL,
    "member_id" VARCHAR(255) NOT NULL,
    "status" VARCHAR(255) NOT NULL,
    FOREIGN KEY ("image_id") REFERENCES "image" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "image_member_image_id" ON "image_member" ("image_id");
CREATE INDEX IF NOT EXISTS "image_member_member_id" ON "image_member" ("member_id");
CREATE UNIQUE INDEX IF NOT EXISTS "image_member_image_id_member_id" ON "image_member" ("image_id", "member_id");
CREATE TABLE IF NOT EXISTS "object" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "bucket_id" VARCHAR(64) NOT NULL,
    "key" VARCHAR(1024) NOT NULL,
    "size" {bigint} NOT NULL,
    "etag" VARCHAR(255) NOT NULL,
    "content_type" VARCHAR(255),
    "metadata" TEXT NOT NULL,
    "checksum" TEXT,
    "data_file" VARCHAR(255) NOT NULL,
    FOREIGN KEY ("bucket_id") REFERENCES "bucket" ("id") ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS "object_bucket_id" ON "object" ("bucket_id");
CREATE UNIQUE INDEX IF NOT EXISTS "object_bucket_id_key" ON "object" ("bucket_id", "key");
CREATE TABLE IF NOT EXISTS "upload" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "bucket_id" VARCHAR(64) NOT NULL,
    "key" VARCHAR(1024) NOT NULL,
    "content_type" VARCHAR(255),
    "metadata" TEXT NOT NULL,
    "checksum_algorithm" VARCHAR(255),
    FOREIGN KEY ("bucket_id") REFERENCES "bucket" ("id") ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS "upload_bucket_id" ON "upload" ("bucket_id");
CREATE TABLE IF NOT EXISTS "part" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "upload_id" VARCHAR(64) NOT NULL,
    "number" INTEGER NOT NULL,
    "size" {bigint} NOT NULL,
    "etag" VARCHAR(255) NOT NULL,
    "checksum" TEXT,
    "data_file" VARCHAR(255) NOT NULL,
    FOREIGN KEY ("upload_id") REFERENCES "upload" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "part_upload_id" ON "part" ("upload_id");
CREATE UNIQUE INDEX IF NOT EXISTS "part_upload_id_number" ON "part" ("upload_id", "number");
CREATE TABLE IF NOT EXISTS "quota" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "project_id" VARCHAR(255) NOT NULL,
    "resource" VARCHAR(255) NOT NULL,
    "hard_limit" INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS "quota_project_id" ON "quota" ("project_id");
CREATE UNIQUE INDEX IF NOT EXISTS "quota_project_id_resource" ON "quota" ("project_id", "resource");
CREATE TABLE IF NOT EXISTS "snapshot" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "project_id" VARCHAR(255) NOT NULL,
    "user_id" VARCHAR(255),
    "volume_id" VARCHAR(64) NOT NULL,
    "name" VARCHAR(255),
    "description" TEXT,
    "size" INTEGER NOT NULL,
    "status" VARCHAR(255) NOT NULL,
    "metadata" TEXT NOT NULL,
    FOREIGN KEY ("volume_id") REFERENCES "volume" ("id") ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS "snapshot_project_id" ON "snapshot" ("project_id");
CREATE INDEX IF NOT EXISTS "snapshot_volume_id" ON "snapshot" ("volume_id");
