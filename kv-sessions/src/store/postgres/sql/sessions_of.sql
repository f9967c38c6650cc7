-- $1 the user, $2 now (ms). The user's live sessions. `owner_user = $1` implies that the user is
-- not NULL, so the partial index on it serves the lookup: the cost follows the user's sessions,
-- not the table's. The deadline is compared as `expires_at + 0`, which no index matches: on
-- its own column the planner may also scan the index on the deadline (a table not analyzed yet
-- invites it) and AND the two, reading an entry for every live session of every user. Expired
-- rows are left to the sweeper, which takes their index entries along.
SELECT id, created_at, saved_at, expires_at, owner_label
FROM {table}
WHERE owner_user = $1 AND expires_at + 0 > $2
