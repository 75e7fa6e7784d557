-- A provider network's TSN schedule and, on a VLAN network, its priority maps (JSON text; NULL: none). Frozen:
-- change the schema in a later numbered migration.
ALTER TABLE "network" ADD COLUMN "tsn" TEXT;
ALTER TABLE "network" ADD COLUMN "egress_qos_map" TEXT;
ALTER TABLE "network" ADD COLUMN "ingress_qos_map" TEXT;
