-- Edda storage schema, version 0001, MySQL 8.0+ and MariaDB 10.6+: instances, history, outbox.
-- dbmate-compatible: dbmate applies the "migrate:up" section and records version 0001 in schema_migrations.
-- Timestamps are DATETIME(6) holding UTC; JSON values are LONGTEXT holding compact JSON (exact round trip, works
-- with JSON_EXTRACT on both MySQL and MariaDB); bytes are LONGBLOB. utf8mb4_bin: ids compare and sort by code point.
-- MySQL commits DDL implicitly, so every statement is idempotent (IF NOT EXISTS) and a half-applied run can be redone.

-- migrate:up
CREATE TABLE IF NOT EXISTS edda_instances (
    instance_id          VARCHAR(255) NOT NULL,
    workflow_name        VARCHAR(255) NOT NULL,
    status               VARCHAR(32)  NOT NULL,
    input_data           LONGTEXT     NOT NULL,
    output_data          LONGTEXT,
    output_bytes         LONGBLOB,
    error                LONGTEXT,
    wait                 LONGTEXT,
    created_at           DATETIME(6)  NOT NULL,
    updated_at           DATETIME(6)  NOT NULL,
    completed_at         DATETIME(6),
    owner_id             VARCHAR(255),
    lease_epoch          BIGINT       NOT NULL DEFAULT 0,
    lease_expires_at     DATETIME(6),
    wake_at              DATETIME(6),
    cancel_requested     BOOLEAN      NOT NULL DEFAULT FALSE,
    iteration            INTEGER      NOT NULL DEFAULT 0,
    lock_timeout_seconds DOUBLE,
    PRIMARY KEY (instance_id),
    INDEX edda_instances_created (created_at, instance_id),
    INDEX edda_instances_status_created (status, created_at),
    INDEX edda_instances_status_wake (status, wake_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS edda_history (
    seq          BIGINT       NOT NULL AUTO_INCREMENT,
    instance_id  VARCHAR(255) NOT NULL,
    iteration    INTEGER      NOT NULL,
    activity_id  TEXT         NOT NULL,
    event_type   VARCHAR(255) NOT NULL,
    event_data   LONGTEXT     NOT NULL,
    payload      LONGBLOB,
    created_at   DATETIME(6)  NOT NULL,
    PRIMARY KEY (seq),
    INDEX edda_history_instance (instance_id, iteration, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS edda_outbox (
    seq              BIGINT       NOT NULL AUTO_INCREMENT,
    event_id         VARCHAR(255) NOT NULL,
    instance_id      VARCHAR(255),
    event_type       TEXT         NOT NULL,
    event_source     TEXT         NOT NULL,
    data             LONGTEXT,
    data_bytes       LONGBLOB,
    content_type     VARCHAR(255) NOT NULL,
    extensions       LONGTEXT     NOT NULL,
    status           VARCHAR(32)  NOT NULL DEFAULT 'pending',
    attempts         INTEGER      NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  DATETIME(6),
    claimed_by       VARCHAR(255),
    claim_expires_at DATETIME(6),
    published_at     DATETIME(6),
    created_at       DATETIME(6)  NOT NULL,
    PRIMARY KEY (seq),
    INDEX edda_outbox_status (status, seq),
    INDEX edda_outbox_instance (instance_id, seq),
    INDEX edda_outbox_event (event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- migrate:down
DROP TABLE IF EXISTS edda_outbox;
DROP TABLE IF EXISTS edda_history;
DROP TABLE IF EXISTS edda_instances;
