-- Merge parameters $1-$13 (see merged.sql), $14 id. Locks the live row, merges the changes into
-- its latest version and writes the result, unless it is past the size cap. No live row: no row
-- comes back, and nothing is written.
WITH source AS MATERIALIZED (
    SELECT version, created_at, rule_kind, rule_ms, data
    FROM {table}
    WHERE id = $14 AND expires_at > $1
    FOR UPDATE
),
{merged},
written AS (
    UPDATE {table} AS t SET
        version = merged.version + 1,
        expires_at = merged.new_expires_at,
        rule_kind = merged.new_rule_kind,
        rule_ms = merged.new_rule_ms,
        data = merged.new_data
    FROM merged
    WHERE t.id = $14 AND merged.size <= $13
    RETURNING t.version, t.created_at, t.expires_at, t.rule_kind, t.rule_ms, t.data::text AS data
)
SELECT merged.size, written.*
FROM merged LEFT JOIN written ON true
