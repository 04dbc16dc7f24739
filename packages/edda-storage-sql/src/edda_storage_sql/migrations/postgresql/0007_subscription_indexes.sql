-- Edda storage schema, version 0007, PostgreSQL: a subscription is always found by its primary key.
-- The index on (channel, waiting_since) also matched the lookups of one instance's subscription
-- (instance_id = ? AND channel = ?). While the table's statistics are young (a new database, the first minutes of a
-- service) both indexes cost the same to the planner, and the prepared statements' generic plans kept the channel
-- index: every lookup then read all the subscriptions of its channel, so parking 10,000 waiters on one event type
-- slowed from 660 to 280 starts/s. The channel indexes are now partial, for the two questions that read by channel
-- (who is waiting; which mode a channel has), and no lookup of one subscription can match them.

-- migrate:up
CREATE INDEX IF NOT EXISTS edda_channel_subscriptions_waiting ON edda_channel_subscriptions (channel, waiting_since)
    WHERE waiting_since IS NOT NULL;
CREATE INDEX IF NOT EXISTS edda_channel_subscriptions_shared ON edda_channel_subscriptions (channel, mode)
    WHERE mode <> 'direct';
DROP INDEX IF EXISTS edda_channel_subscriptions_channel;

-- migrate:down
CREATE INDEX IF NOT EXISTS edda_channel_subscriptions_channel ON edda_channel_subscriptions (channel, waiting_since);
DROP INDEX IF EXISTS edda_channel_subscriptions_shared;
DROP INDEX IF EXISTS edda_channel_subscriptions_waiting;
