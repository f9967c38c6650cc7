-- $1 id (the session's digest), $2 now (ms). An expired row is never returned; the sweeper
-- deletes it.
SELECT version, created_at, expires_at, rule_kind, rule_ms, data::text AS data,
    owner_user, owner_label, saved_at
FROM {table}
WHERE id = $1 AND expires_at > $2
