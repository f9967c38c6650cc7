-- $1 id (the session's digest), $2 now (ms). Deletes the row whether or not it has expired,
-- and returns it only if it was live.
WITH removed AS (
    DELETE FROM {table}
    WHERE id = $1
    RETURNING version, created_at, expires_at, rule_kind, rule_ms, data
)
SELECT version, created_at, expires_at, rule_kind, rule_ms, data::text AS data
FROM removed
WHERE expires_at > $2
