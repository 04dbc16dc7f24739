-- Edda storage schema, version 0001, SQLite: instances, history, outbox.
-- dbmate-compatible: dbmate applies the "migrate:up" section and records version 0001 in schema_migrations.
-- Timestamps are INTEGER microseconds since 1970-01-01 UTC; JSON values are TEXT; bytes are BLOB.

-- migrate:up
CREATE TABLE IF NOT EXISTS edda_instances (
    instance_id          TEXT    NOT NULL PRIMARY KEY,
    workflow_name        TEXT    NOT NULL,
    status               TEXT    NOT NULL,
    input_data           TEXT    NOT NULL,
    output_data          TEXT,
    output_bytes         BLOB,
    error                TEXT,
    wait                 TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    completed_at         INTEGER,
    owner_id             TEXT,
    lease_epoch          INTEGER NOT NULL DEFAULT 0,
    lease_expires_at     INTEGER,
    wake_at              INTEGER,
    cancel_requested     INTEGER NOT NULL DEFAULT 0,
    iteration            INTEGER NOT NULL DEFAULT 0,
    lock_timeout_seconds REAL
);
CREATE INDEX IF NOT EXISTS edda_instances_created ON edda_instances (created_at, instance_id);
CREATE INDEX IF NOT EXISTS edda_instances_status_created ON edda_instances (status, created_at);
CREATE INDEX IF NOT EXISTS edda_instances_unfinished ON edda_instances (wake_at)
    WHERE status NOT IN ('cancelled', 'completed', 'failed');

CREATE TABLE IF NOT EXISTS edda_history (
    seq          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    instance_id  TEXT    NOT NULL,
    iteration    INTEGER NOT NULL,
    activity_id  TEXT    NOT NULL,
    event_type   TEXT    NOT NULL,
    event_data   TEXT    NOT NULL,
    payload      BLOB,
    created_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS edda_history_instance ON edda_history (instance_id, iteration, seq);

CREATE TABLE IF NOT EXISTS edda_outbox (
    seq              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    event_id         TEXT    NOT NULL,
    instance_id      TEXT,
    event_type       TEXT    NOT NULL,
    event_source     TEXT    NOT NULL,
    data             TEXT,
    data_bytes       BLOB,
    content_type     TEXT    NOT NULL,
    extensions       TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  INTEGER,
    claimed_by       TEXT,
    claim_expires_at INTEGER,
    published_at     INTEGER,
    created_at       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS edda_outbox_status ON edda_outbox (status, seq);
CREATE INDEX IF NOT EXISTS edda_outbox_instance ON edda_outbox (instance_id, seq);
CREATE INDEX IF NOT EXISTS edda_outbox_event ON edda_outbox (event_id);

-- migrate:down
DROP TABLE IF EXISTS edda_outbox;
DROP TABLE IF EXISTS edda_history;
DROP TABLE IF EXISTS edda_instances;
