-- Edda storage schema, version 0003, PostgreSQL: worker liveness.
-- A worker holds the session-level advisory lock (1162101825, lock_key) on a connection of its own while it lives.
-- When its process dies, the server ends that session and releases the lock at once, so the leases of a worker
-- whose lock is gone can be taken over immediately instead of after they time out.

-- migrate:up
CREATE TABLE IF NOT EXISTS edda_workers (
    worker_id     VARCHAR(255) COLLATE "C" NOT NULL PRIMARY KEY,
    lock_key      INTEGER      NOT NULL,
    registered_at TIMESTAMPTZ  NOT NULL
);

-- migrate:down
DROP TABLE IF EXISTS edda_workers;
