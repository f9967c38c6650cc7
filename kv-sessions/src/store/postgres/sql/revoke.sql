-- $1 id (the session's digest), $2 the user, $3 now (ms). Deletes the row only where it is live
-- and bound to the user, and returns one row where it did. Where the store has a feed
-- ({notifying} is true), the deleted row announces itself on {channel} as `<digest hex> -`, as
-- the delete statement's do; the answer reads the `notified` step, which computes its column for
-- every deleted row, read or not, and NOTIFY is delivered at commit.
WITH removed AS (
    DELETE FROM {table}
    WHERE id = $1 AND owner_user = $2 AND expires_at > $3
    RETURNING id
),
notified AS (
    SELECT CASE WHEN {notifying} THEN pg_notify({channel}, encode(id, 'hex') || ' -') END
        AS notice
    FROM removed
)
SELECT true AS revoked
FROM notified
