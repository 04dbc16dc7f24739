-- Edda storage schema, version 0002, SQLite: channel messaging.
-- edda_channels holds one row per channel used; the server dialects lock it to serialize publish and receive
-- on a channel (SQLite needs no lock: one writer per process), kept here so every dialect has the same tables.

-- migrate:up
CREATE TABLE IF NOT EXISTS edda_channels (
    channel TEXT NOT NULL PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS edda_channel_messages (
    seq                INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    message_id         TEXT    NOT NULL,
    channel            TEXT    NOT NULL,
    data               TEXT,
    data_bytes         BLOB,
    metadata           TEXT    NOT NULL,
    target_instance_id TEXT,
    claimed_by         TEXT,
    published_at       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS edda_channel_messages_channel ON edda_channel_messages (channel, seq);
CREATE INDEX IF NOT EXISTS edda_channel_messages_published ON edda_channel_messages (published_at);

CREATE TABLE IF NOT EXISTS edda_channel_subscriptions (
    instance_id   TEXT    NOT NULL,
    channel       TEXT    NOT NULL,
    mode          TEXT    NOT NULL,
    cursor_seq    INTEGER NOT NULL DEFAULT 0,
    waiting_since INTEGER,
    PRIMARY KEY (instance_id, channel)
);
CREATE INDEX IF NOT EXISTS edda_channel_subscriptions_channel ON edda_channel_subscriptions (channel, waiting_since);

-- migrate:down
DROP TABLE IF EXISTS edda_channel_subscriptions;
DROP TABLE IF EXISTS edda_channel_messages;
DROP TABLE IF EXISTS edda_channels;
