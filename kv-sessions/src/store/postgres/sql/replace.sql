-- $1 id (the digest the session is under), $2-$7 the record's columns, $8 the version the
-- record was merged against, $9 now (ms), $10 the id to write it under: $1 again for an update,
-- the new digest for a renewal. A compare-and-set: the record replaces the row only where that
-- row is live and still has version $8. One row comes back either way: `written` where the
-- record was written; otherwise the latest live copy this statement sees, to merge against and
-- try again (where a save committed while this one waited for the row, that copy may still be
-- the one merged against, and the next try sees the newer one). No row: the session is gone.
-- Where the store has a feed ({notifying} is true), a written row announces itself on
-- {channel}: `<digest hex> <version>` after an update, `<old digest hex> -` after a renewal.
-- The `notified` step is read by the answer, so it runs exactly once per written row, and
-- NOTIFY is delivered at commit: nothing written, nothing announced.
WITH written AS (
    UPDATE {table} SET
        id = $10,
        version = $2,
        created_at = $3,
        expires_at = $4,
        rule_kind = $5,
        rule_ms = $6,
        data = $7::jsonb
    WHERE id = $1 AND version = $8 AND expires_at > $9
    RETURNING version
),
notified AS (
    SELECT CASE WHEN {notifying} THEN pg_notify(
        {channel},
        encode($1, 'hex') || ' ' || CASE WHEN $10 = $1 THEN version::text ELSE '-' END
    ) END AS notice
    FROM written
)
SELECT true AS written, NULL::bigint AS version, NULL::bigint AS created_at,
    NULL::bigint AS expires_at, NULL::smallint AS rule_kind, NULL::bigint AS rule_ms,
    NULL::text AS data
FROM notified
UNION ALL
SELECT false, version, created_at, expires_at, rule_kind, rule_ms, data::text
FROM {table}
WHERE id = $1 AND expires_at > $9 AND NOT EXISTS (SELECT FROM written)
