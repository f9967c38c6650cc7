-- Creates the sessions table and its index on the deadline, unless they exist, then gives the
-- table the columns of a session's binding and their index, unless it has them. One implicit
-- transaction; the advisory lock makes instances that start together take turns, since two
-- concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog. The server's notices
-- that a table, column or index exists already are not sent: the driver would log them.
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

-- The binding, added in a later release: NULL in all three on an unbound session, so rows
-- written before stay, unbound. ALTER TABLE locks the table against readers even when every
-- column exists, and would queue every session read behind a long reader (a dump, say) at each
-- start-up; so it runs only where a column is missing. Nullable columns without a default are
-- added in the catalog alone, without rewriting the table.
DO $$
BEGIN
    IF (SELECT count(*) FROM pg_attribute
        WHERE attrelid = to_regclass('{table}') AND NOT attisdropped
            AND attname IN ('owner_user', 'owner_label', 'saved_at')) < 3 THEN
        ALTER TABLE {table}
            ADD COLUMN IF NOT EXISTS owner_user text,
            ADD COLUMN IF NOT EXISTS owner_label text,
            ADD COLUMN IF NOT EXISTS saved_at bigint;
    END IF;
END
$$;

-- Only bound sessions are listed by user, so only they are indexed.
CREATE INDEX IF NOT EXISTS {owner_index} ON {table} (owner_user) WHERE owner_user IS NOT NULL;
