-- Edda storage schema, version 0002, MySQL/MariaDB: channel messaging.
-- edda_channels holds one row per channel used; publish and receive lock it to serialize work on a channel.

-- migrate:up
CREATE TABLE IF NOT EXISTS edda_channels (
    channel VARCHAR(255) NOT NULL,
    PRIMARY KEY (channel)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS edda_channel_messages (
    seq                BIGINT       NOT NULL AUTO_INCREMENT,
    message_id         VARCHAR(255) NOT NULL,
    channel            VARCHAR(255) NOT NULL,
    data               LONGTEXT,
    data_bytes         LONGBLOB,
    metadata           LONGTEXT     NOT NULL,
    target_instance_id VARCHAR(255),
    claimed_by         VARCHAR(255),
    published_at       DATETIME(6)  NOT NULL,
    PRIMARY KEY (seq),
    INDEX edda_channel_messages_channel (channel, seq),
    INDEX edda_channel_messages_published (published_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS edda_channel_subscriptions (
    instance_id   VARCHAR(255) NOT NULL,
    channel       VARCHAR(255) NOT NULL,
    mode          VARCHAR(16)  NOT NULL,
    cursor_seq    BIGINT       NOT NULL DEFAULT 0,
    waiting_since DATETIME(6),
    PRIMARY KEY (instance_id, channel),
    INDEX edda_channel_subscriptions_channel (channel, waiting_since)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- migrate:down
DROP TABLE IF EXISTS edda_channel_subscriptions;
DROP TABLE IF EXISTS edda_channel_messages;
DROP TABLE IF EXISTS edda_channels;
