-- Drops the sessions table, and its index with it, if it exists.
SELECT pg_advisory_xact_lock(hashtext('kv-sessions schema of {lock}'));

DROP TABLE IF EXISTS {table};
