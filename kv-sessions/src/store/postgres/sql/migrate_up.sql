-- Creates the sessions table and its index on the deadline, unless they exist. One implicit
-- transaction; the advisory lock makes instances that start together take turns, since two
-- concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog. The server's notices
-- that a table or index exists already are not sent: the driver would log them.
SELECT pg_advisory_xact_lock(hashtext('kv-sessions schema of {lock}'));

SET LOCAL client_min_messages TO warning;

CREATE TABLE IF NOT EXISTS {table} (
    id bytea PRIMARY KEY,
    version bigint NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    rule_kind smallint NOT NULL,
    rule_ms bigint NOT NULL,
    data jsonb NOT NULL
);

CREATE INDEX IF NOT EXISTS {index} ON {table} (expires_at);
