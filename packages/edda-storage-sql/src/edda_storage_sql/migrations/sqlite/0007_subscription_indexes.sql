-- Edda storage schema, version 0007, SQLite: no change.
-- On PostgreSQL this version makes the channel indexes of edda_channel_subscriptions partial, so that the lookup of
-- one subscription always uses the primary key. SQLite's planner already does: a lookup that fixes every column of
-- the primary key reads one row, whatever the statistics say. The version exists so that every database carries the
-- same version numbers.

-- migrate:up
SELECT 1;

-- migrate:down
SELECT 1;
