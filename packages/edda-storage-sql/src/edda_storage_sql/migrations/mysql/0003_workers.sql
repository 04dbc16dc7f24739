-- Edda storage schema, version 0003, MySQL/MariaDB: worker liveness.
-- A worker holds the named lock lock_name (GET_LOCK) on a connection of its own while it lives. When its process
-- dies, the server ends that session and releases the lock at once, so the leases of a worker whose lock is free
-- can be taken over immediately instead of after they time out.

-- migrate:up
CREATE TABLE IF NOT EXISTS edda_workers (
    worker_id     VARCHAR(255) NOT NULL,
    lock_name     VARCHAR(64)  NOT NULL,
    registered_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (worker_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- migrate:down
DROP TABLE IF EXISTS edda_workers;
