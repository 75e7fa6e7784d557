-- Frozen on purpose: this is the schema the first release created, written out instead of derived from
-- the live models, so that a later migration always starts from a fixed point. Never edit it; change
-- the schema in a new numbered migration (tests/unit/appliance/test_db_migrations.py checks that the
-- baseline plus every migration equals the models). {timestamp}, {bool} and {bigint} are the column
-- types that differ between SQLite and PostgreSQL (appliance.db.BASELINE_TYPES).
CREATE TABLE IF NOT EXISTS "floating_ip" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "project_id" VARCHAR(64) NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "description" VARCHAR(255) NOT NULL,
    "tags" TEXT NOT NULL,
    "revision_number" INTEGER NOT NULL,
    "floating_network_id" VARCHAR(64) NOT NULL,
    "floating_ip_address" VARCHAR(64) NOT NULL,
    "floating_port_id" VARCHAR(64) NOT NULL,
    "port_id" VARCHAR(64),
    "fixed_ip_address" VARCHAR(64),
    "router_id" VARCHAR(64),
    "status" VARCHAR(16) NOT NULL
);
CREATE INDEX IF NOT EXISTS "floating_ip_project_id" ON "floating_ip" ("project_id");
CREATE INDEX IF NOT EXISTS "floating_ip_floating_network_id" ON "floating_ip" ("floating_network_id");
CREATE INDEX IF NOT EXISTS "floating_ip_port_id" ON "floating_ip" ("port_id");
CREATE TABLE IF NOT EXISTS "network" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "project_id" VARCHAR(64) NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "description" VARCHAR(255) NOT NULL,
    "tags" TEXT NOT NULL,
    "revision_number" INTEGER NOT NULL,
    "admin_state_up" {bool} NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "shared" {bool} NOT NULL,
    "external" {bool} NOT NULL,
    "mtu" INTEGER NOT NULL,
    "network_type" VARCHAR(16) NOT NULL,
    "physical_network" VARCHAR(64),
    "segmentation_id" INTEGER,
    "port_security_enabled" {bool} NOT NULL,
    "qos_policy_id" VARCHAR(64)
);
CREATE INDEX IF NOT EXISTS "network_project_id" ON "network" ("project_id");
CREATE TABLE IF NOT EXISTS "port" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "project_id" VARCHAR(64) NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "description" VARCHAR(255) NOT NULL,
    "tags" TEXT NOT NULL,
    "revision_number" INTEGER NOT NULL,
    "network_id" VARCHAR(64) NOT NULL,
    "admin_state_up" {bool} NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "mac_address" VARCHAR(32) NOT NULL,
    "device_id" VARCHAR(255) NOT NULL,
    "device_owner" VARCHAR(255) NOT NULL,
    "host_id" VARCHAR(255) NOT NULL,
    "binding_profile" TEXT NOT NULL,
    "vnic_type" VARCHAR(32) NOT NULL,
    "allowed_address_pairs" TEXT NOT NULL,
    "port_security_enabled" {bool} NOT NULL,
    "security_groups" TEXT NOT NULL,
    "qos_policy_id" VARCHAR(64),
    "dns_name" VARCHAR(255) NOT NULL,
    "extra_dhcp_opts" TEXT NOT NULL,
    FOREIGN KEY ("network_id") REFERENCES "network" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "port_project_id" ON "port" ("project_id");
CREATE INDEX IF NOT EXISTS "port_network_id" ON "port" ("network_id");
CREATE UNIQUE INDEX IF NOT EXISTS "port_mac_address" ON "port" ("mac_address");
CREATE INDEX IF NOT EXISTS "port_device_id" ON "port" ("device_id");
CREATE TABLE IF NOT EXISTS "subnet" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "project_id" VARCHAR(64) NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "description" VARCHAR(255) NOT NULL,
    "tags" TEXT NOT NULL,
    "revision_number" INTEGER NOT NULL,
    "network_id" VARCHAR(64) NOT NULL,
    "ip_version" INTEGER NOT NULL,
    "cidr" VARCHAR(64) NOT NULL,
    "gateway_ip" VARCHAR(64),
    "allocation_pools" TEXT NOT NULL,
    "dns_nameservers" TEXT NOT NULL,
    "host_routes" TEXT NOT NULL,
    "enable_dhcp" {bool} NOT NULL,
    "ipv6_ra_mode" VARCHAR(32),
    "ipv6_address_mode" VARCHAR(32),
    FOREIGN KEY ("network_id") REFERENCES "network" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "subnet_project_id" ON "subnet" ("project_id");
CREATE INDEX IF NOT EXISTS "subnet_network_id" ON "subnet" ("network_id");
CREATE TABLE IF NOT EXISTS "ip_allocation" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "port_id" VARCHAR(64) NOT NULL,
    "subnet_id" VARCHAR(64) NOT NULL,
    "network_id" VARCHAR(64) NOT NULL,
    "ip_address" VARCHAR(64) NOT NULL,
    FOREIGN KEY ("port_id") REFERENCES "port" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("subnet_id") REFERENCES "subnet" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "ip_allocation_port_id" ON "ip_allocation" ("port_id");
CREATE INDEX IF NOT EXISTS "ip_allocation_subnet_id" ON "ip_allocation" ("subnet_id");
CREATE INDEX IF NOT EXISTS "ip_allocation_network_id" ON "ip_allocation" ("network_id");
CREATE UNIQUE INDEX IF NOT EXISTS "ip_allocation_subnet_id_ip_address" ON "ip_allocation" ("subnet_id", "ip_address");
CREATE TABLE IF NOT EXISTS "qos_policy" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "project_id" VARCHAR(64) NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "description" VARCHAR(255) NOT NULL,
    "tags" TEXT NOT NULL,
    "revision_number" INTEGER NOT NULL,
    "shared" {bool} NOT NULL,
    "is_default" {bool} NOT NULL
);
CREATE INDEX IF NOT EXISTS "qos_policy_project_id" ON "qos_policy" ("project_id");
CREATE TABLE IF NOT EXISTS "qos_bandwidth_limit_rule" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "policy_id" VARCHAR(64) NOT NULL,
    "max_kbps" INTEGER NOT NULL,
    "max_burst_kbps" INTEGER NOT NULL,
    "direction" VARCHAR(8) NOT NULL,
    FOREIGN KEY ("policy_id") REFERENCES "qos_policy" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "qos_bandwidth_limit_rule_policy_id" ON "qos_bandwidth_limit_rule" ("policy_id");
CREATE TABLE IF NOT EXISTS "quota" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "project_id" VARCHAR(64) NOT NULL,
    "resource" VARCHAR(64) NOT NULL,
    "hard_limit" INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "quota_project_id_resource" ON "quota" ("project_id", "resource");
CREATE TABLE IF NOT EXISTS "router" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "project_id" VARCHAR(64) NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "description" VARCHAR(255) NOT NULL,
    "tags" TEXT NOT NULL,
    "revision_number" INTEGER NOT NULL,
    "admin_state_up" {bool} NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "gw_port_id" VARCHAR(64),
    "gw_network_id" VARCHAR(64),
    "enable_snat" {bool} NOT NULL,
    "routes" TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS "router_project_id" ON "router" ("project_id");
CREATE TABLE IF NOT EXISTS "security_group" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "project_id" VARCHAR(64) NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "description" VARCHAR(255) NOT NULL,
    "tags" TEXT NOT NULL,
    "revision_number" INTEGER NOT NULL,
    "stateful" {bool} NOT NULL
);
CREATE INDEX IF NOT EXISTS "security_group_project_id" ON "security_group" ("project_id");
CREATE TABLE IF NOT EXISTS "security_group_rule" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "project_id" VARCHAR(64) NOT NULL,
    "security_group_id" VARCHAR(64) NOT NULL,
    "direction" VARCHAR(8) NOT NULL,
    "ethertype" VARCHAR(8) NOT NULL,
    "protocol" VARCHAR(16),
    "port_range_min" INTEGER,
    "port_range_max" INTEGER,
    "remote_ip_prefix" VARCHAR(64),
    "remote_group_id" VARCHAR(64),
    "description" VARCHAR(255) NOT NULL,
    "revision_number" INTEGER NOT NULL,
    FOREIGN KEY ("security_group_id") REFERENCES "security_group" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "security_group_rule_project_id" ON "security_group_rule" ("project_id");
CREATE INDEX IF NOT EXISTS "security_group_rule_security_group_id" ON "security_group_rule" ("security_group_id");
