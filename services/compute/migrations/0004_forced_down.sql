-- An admin's force-down of a compute node (os-services forced_down), kept apart from the state the site's
-- heartbeats write, so that a node coming back stays down until the admin lifts it. Frozen: change the schema
-- in a later numbered migration.
ALTER TABLE "compute_node" ADD COLUMN "forced_down" {bool} NOT NULL DEFAULT FALSE;
