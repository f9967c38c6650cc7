-- $1 id (the digest the session is under), $2-$10 the record's columns, $11 the version the
-- record was merged against, $12 now (ms), $13 the id to write it under: $1 again for an update,
-- the new digest for a renewal. A compare-and-set: the record replaces the row only where that
-- row is live and still has version $11. One row comes back either way: `written` where the
-- record was written; otherwise the latest live copy this statement sees, to merge against and
-- try again (where a save committed while this one waited for the row, that copy may still be
-- the one merged against, and the next try sees the newer one). No row: the session is gone.
-- The binding columns move with the row, so a renewal moves the session's place in the index on
-- its user in the same statement.
-- Where the store has a feed ({notifying} is true), a written row announces itself on
-- {channel}: `<digest hex> <version>` after an update, `<old digest hex> -` after a renewal.
-- The `notified` step is read by the answer, so it runs exactly once per written row, and
-- NOTIFY is delivered at commit: nothing written, nothing announced.
WITH written AS (
    UPDATE {table} SET
        id = $13,
        version = $2,
        created_at = $3,
        expires_at = $4,
        rule_kind = $5,
        rule_ms = $6,
        data = $7::jsonb,
        owner_user = $8,
        owner_label = $9,
        saved_at = $10
    WHERE id = $1 AND version = $11 AND expires_at > $12
    RETURNING version
),
notified AS (
    SELECT CASE WHEN {notifying} THEN pg_notify(
        {channel},
        encode($1, 'hex') || ' ' || CASE WHEN $13 = $1 THEN version::text ELSE '-' END
    ) END AS notice
    FROM written
)
SELECT true AS written, NULL::bigint AS version, NULL::bigint AS created_at,
    NULL::bigint AS expires_at, NULL::smallint AS rule_kind, NULL::bigint AS rule_ms,
    NULL::text AS data, NULL::text AS owner_user, NULL::text AS owner_label,
    NULL::bigint AS saved_at
FROM notified
UNION ALL
SELECT false, version, created_at, expires_at, rule_kind, rule_ms, data::text,
    owner_user, owner_label, saved_at
FROM {table}
WHERE id = $1 AND expires_at > $12 AND NOT EXISTS (SELECT FROM written)
