-- $1 id (the session's digest), $2-$10 the record's columns, $11 now (ms). Inserts the record. A
-- row already under the id is replaced only if it has expired; a live one is left alone, and
-- no row comes back.
INSERT INTO {table} AS t (
    id, version, created_at, expires_at, rule_kind, rule_ms, data,
    owner_user, owner_label, saved_at
)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10)
ON CONFLICT (id) DO UPDATE SET
    version = EXCLUDED.version,
    created_at = EXCLUDED.created_at,
    expires_at = EXCLUDED.expires_at,
    rule_kind = EXCLUDED.rule_kind,
    rule_ms = EXCLUDED.rule_ms,
    data = EXCLUDED.data,
    owner_user = EXCLUDED.owner_user,
    owner_label = EXCLUDED.owner_label,
    saved_at = EXCLUDED.saved_at
WHERE t.expires_at <= $11
RETURNING version
