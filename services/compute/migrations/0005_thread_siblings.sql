-- Each SMT core's threads on a compute node (hw:cpu_thread_policy: isolate keeps a pinned CPU's siblings idle,
-- require pins in sibling pairs). '[]': one thread per core, or not reported. Frozen: change the schema in a later
-- numbered migration.
ALTER TABLE "compute_node" ADD COLUMN "thread_siblings" TEXT NOT NULL DEFAULT '[]';
