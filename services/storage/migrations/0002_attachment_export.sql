-- An attachment's iSCSI export (target name, initiator, CHAP credentials) for a server on another node, kept so a
-- restart can export it again. Frozen: change the schema in a later numbered migration.
ALTER TABLE "attachment" ADD COLUMN "export" TEXT;
