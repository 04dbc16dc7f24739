-- Edda storage schema, version 0006, MySQL/MariaDB: a message id is stored once.
-- A CloudEvent's message id derives from its source and id, so the same event delivered twice (a sender's retry)
-- finds its message already stored and adds nothing: a duplicate never satisfies a second wait. Duplicates kept by
-- earlier versions stay, renamed "<id>#dup-<seq>" (nothing stored is dropped), before the unique index is built.

-- migrate:up
UPDATE edda_channel_messages AS m
JOIN (
    SELECT message_id, MIN(seq) AS first_seq FROM edda_channel_messages GROUP BY message_id HAVING COUNT(*) > 1
) AS d ON m.message_id = d.message_id AND m.seq > d.first_seq
SET m.message_id = CONCAT(LEFT(m.message_id, 200), '#dup-', m.seq);
CREATE UNIQUE INDEX edda_channel_messages_message_id ON edda_channel_messages (message_id);

-- migrate:down
DROP INDEX edda_channel_messages_message_id ON edda_channel_messages;
