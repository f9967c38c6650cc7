-- Drops the sessions table, and its indexes with it, if it exists. A missing table raises no
-- notice for the driver to log.
SELECT pg_advisory_xact_lock(hashtext('kv-sessions schema of {lock}'));

SET LOCAL client_min_messages TO warning;

DROP TABLE IF EXISTS {table};
