-- Edda storage schema, version 0006, PostgreSQL: a message id is stored once.
-- A CloudEvent's message id derives from its source and id, so the same event delivered twice (a sender's retry)
-- finds its message already stored and adds nothing: a duplicate never satisfies a second wait. Duplicates kept by
-- earlier versions stay, renamed "<id>#dup-<seq>" (nothing stored is dropped), before the unique index is built.
-- Also: the instances with a cancel request, indexed, so that a recovery pass finds them without reading every
-- unfinished instance (see edda_storage_sql._leases).

-- migrate:up
UPDATE edda_channel_messages AS m SET message_id = LEFT(m.message_id, 200) || '#dup-' || m.seq
WHERE EXISTS (
    SELECT 1 FROM edda_channel_messages AS first WHERE first.message_id = m.message_id AND first.seq < m.seq
);
CREATE UNIQUE INDEX IF NOT EXISTS edda_channel_messages_message_id ON edda_channel_messages (message_id);
CREATE INDEX IF NOT EXISTS edda_instances_cancel_requested ON edda_instances (updated_at)
    WHERE cancel_requested = TRUE AND status NOT IN ('cancelled', 'completed', 'failed');

-- migrate:down
DROP INDEX IF EXISTS edda_instances_cancel_requested;
DROP INDEX IF EXISTS edda_channel_messages_message_id;
