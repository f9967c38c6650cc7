-- $1 now (ms), $2 batch size. Deletes at most one batch of expired rows and counts them. Rows
-- another sweeper has locked are skipped rather than waited for. The outer condition is checked
-- again on the latest version of each row, so a row whose deadline moved after the inner select
-- stays.
WITH removed AS (
    DELETE FROM {table}
    WHERE id IN (
        SELECT id FROM {table}
        WHERE expires_at <= $1
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    )
    AND expires_at <= $1
    RETURNING 1
)
SELECT count(*) AS removed FROM removed
