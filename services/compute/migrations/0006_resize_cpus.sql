-- The dedicated CPUs of each flavor while a server with hw:cpu_thread_policy isolate or require is resized in
-- place (flavor id -> CPUs; NULL otherwise): its claim holds both until the resize is confirmed or reverted.
-- Frozen: change the schema in a later numbered migration.
ALTER TABLE "allocation" ADD COLUMN "resize_cpus" TEXT;
