-- $1 the user, $2 now (ms). The user's live sessions. `owner_user = $1` implies that the user is
-- not NULL, so the partial index on it serves the lookup: the cost follows the user's sessions,
-- not the table's. Expired rows are left to the sweeper, which takes their index entries along.
SELECT id, created_at, saved_at, expires_at, owner_label
FROM {table}
WHERE owner_user = $1 AND expires_at > $2
