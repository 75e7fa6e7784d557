-- The site's compute nodes and what each server holds on its node (the scheduler's claims). Frozen like the
-- baseline: change the schema in a later numbered migration.
CREATE TABLE IF NOT EXISTS "compute_node" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "host" VARCHAR(255) NOT NULL,
    "address" VARCHAR(255) NOT NULL,
    "availability_zone" VARCHAR(255) NOT NULL,
    "state" VARCHAR(255) NOT NULL,
    "disabled" {bool} NOT NULL,
    "disabled_reason" TEXT,
    "hypervisor_type" VARCHAR(255) NOT NULL,
    "hypervisor_version" INTEGER NOT NULL,
    "arch" VARCHAR(255) NOT NULL,
    "vcpus" INTEGER NOT NULL,
    "memory_mb" INTEGER NOT NULL,
    "disk_gb" INTEGER NOT NULL,
    "numa_nodes" INTEGER NOT NULL,
    "dedicated_cpus" TEXT NOT NULL,
    "hugepages" TEXT NOT NULL,
    "info" TEXT NOT NULL,
    "cpu_allocation_ratio" REAL NOT NULL,
    "ram_allocation_ratio" REAL NOT NULL,
    "disk_allocation_ratio" REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "compute_node_host" ON "compute_node" ("host");
CREATE TABLE IF NOT EXISTS "allocation" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "instance_id" VARCHAR(255) NOT NULL,
    "host" VARCHAR(255) NOT NULL,
    "vcpus" INTEGER NOT NULL,
    "memory_mb" INTEGER NOT NULL,
    "disk_gb" INTEGER NOT NULL,
    "cpus" TEXT NOT NULL,
    "page_kib" INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS "allocation_instance_id" ON "allocation" ("instance_id");
CREATE INDEX IF NOT EXISTS "allocation_host" ON "allocation" ("host");
