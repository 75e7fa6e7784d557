-- The fleet as a managed thing (issue 16): each site's region, labels, reported release and decommission
-- time, and site groups (a label selector with rollout limits). Frozen: change the schema in a later
-- numbered migration.
ALTER TABLE "site" ADD COLUMN "region" VARCHAR(255) NOT NULL DEFAULT '';
ALTER TABLE "site" ADD COLUMN "labels" TEXT NOT NULL DEFAULT '{}';
ALTER TABLE "site" ADD COLUMN "version" VARCHAR(64);
ALTER TABLE "site" ADD COLUMN "decommissioned_at" {timestamp};
CREATE TABLE IF NOT EXISTS "site_group" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "name" VARCHAR(63) NOT NULL,
    "selector" TEXT NOT NULL,
    "max_parallel" INTEGER NOT NULL,
    "max_failures" INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "site_group_name" ON "site_group" ("name");
