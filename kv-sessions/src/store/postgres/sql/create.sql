-- $1 id (the session's digest), $2-$7 the record's columns, $8 now (ms). Inserts the record. A
-- row already under the id is replaced only if it has expired; a live one is left alone, and
-- no row comes back.
INSERT INTO {table} AS t (id, version, created_at, expires_at, rule_kind, rule_ms, data)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
ON CONFLICT (id) DO UPDATE SET
    version = EXCLUDED.version,
    created_at = EXCLUDED.created_at,
    expires_at = EXCLUDED.expires_at,
    rule_kind = EXCLUDED.rule_kind,
    rule_ms = EXCLUDED.rule_ms,
    data = EXCLUDED.data
WHERE t.expires_at <= $8
RETURNING version
