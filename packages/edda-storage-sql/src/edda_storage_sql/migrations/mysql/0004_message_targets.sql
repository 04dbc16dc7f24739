-- Edda storage schema, version 0004, MySQL/MariaDB: finding a receiver's next message by index.
-- A receive looks for the oldest unclaimed message addressed to it, and (broadcast, competing) the oldest
-- unaddressed one; with thousands of workflows each waiting on one event type for its own event, scanning the
-- channel's messages in seq order made every receive cost O(messages on the channel).

-- migrate:up
CREATE INDEX edda_channel_messages_target ON edda_channel_messages (channel, target_instance_id, seq);

-- migrate:down
DROP INDEX edda_channel_messages_target ON edda_channel_messages;
