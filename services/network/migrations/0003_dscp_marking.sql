-- QoS DSCP marking rules (one per policy). Frozen: change the schema in a later numbered migration.
CREATE TABLE IF NOT EXISTS "qos_dscp_marking_rule" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" {timestamp} NOT NULL,
    "updated_at" {timestamp} NOT NULL,
    "policy_id" VARCHAR(64) NOT NULL,
    "dscp_mark" INTEGER NOT NULL,
    FOREIGN KEY ("policy_id") REFERENCES "qos_policy" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "qos_dscp_marking_rule_policy_id" ON "qos_dscp_marking_rule" ("policy_id");
