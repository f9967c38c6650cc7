-- $1 id (the session's digest), $2 now (ms). Deletes the row whether or not it has expired,
-- and returns it only if it was live. Where the store has a feed ({notifying} is true), a
-- deleted row, live or not, announces itself on {channel} as `<digest hex> -`; the `notified`
-- step computes a column for every deleted row, read or not, and NOTIFY is delivered at commit.
WITH removed AS (
    DELETE FROM {table}
    WHERE id = $1
    RETURNING version, created_at, expires_at, rule_kind, rule_ms, data,
        owner_user, owner_label, saved_at
),
notified AS (
    SELECT CASE WHEN {notifying} THEN pg_notify({channel}, encode($1, 'hex') || ' -') END
        AS notice,
        removed.*
    FROM removed
)
SELECT version, created_at, expires_at, rule_kind, rule_ms, data::text AS data,
    owner_user, owner_label, saved_at
FROM notified
WHERE expires_at > $2
