-- Edda storage schema, version 0003, SQLite: worker liveness.
-- SQLite is used by one process, which takes over every lease at start; the table exists so that every dialect
-- has the same schema versions.

-- migrate:up
CREATE TABLE IF NOT EXISTS edda_workers (
    worker_id     TEXT    NOT NULL PRIMARY KEY,
    lock_key      INTEGER NOT NULL,
    registered_at TEXT    NOT NULL
);

-- migrate:down
DROP TABLE IF EXISTS edda_workers;
