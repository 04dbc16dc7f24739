-- Edda storage schema, version 0005, MySQL/MariaDB: where an instance's new subscriptions start reading.
-- message_anchor is the channel-message position (edda_channel_messages.seq) at the instance's start. A
-- subscription the instance makes later (at its first wait on a channel, or with subscribe()) starts reading
-- there, so a broadcast message published after start() returned is never lost to the instance, even when it
-- arrives before the workflow reaches its wait. Existing instances start at the current position.

-- migrate:up
ALTER TABLE edda_instances ADD COLUMN message_anchor BIGINT NOT NULL DEFAULT 0;
UPDATE edda_instances SET message_anchor = (SELECT COALESCE(MAX(seq), 0) FROM edda_channel_messages);

-- migrate:down
ALTER TABLE edda_instances DROP COLUMN message_anchor;
