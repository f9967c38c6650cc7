-- Merge parameters $1-$13 (see merged.sql), $14 id, $15 created_at (ms). Inserts the changes
-- applied to nothing, unless the result is past the size cap. A row already under the id is
-- replaced only if it has expired; a live one is left alone, and no row comes back for it.
WITH source AS (
    SELECT 0::bigint AS version, $15 AS created_at, 0::smallint AS rule_kind, 0::bigint AS rule_ms,
        '{}'::jsonb AS data
),
{merged},
written AS (
    INSERT INTO {table} AS t (id, version, created_at, expires_at, rule_kind, rule_ms, data)
    SELECT $14, merged.version + 1, merged.created_at, merged.new_expires_at,
        merged.new_rule_kind, merged.new_rule_ms, merged.new_data
    FROM merged
    WHERE merged.size <= $13
    ON CONFLICT (id) DO UPDATE SET
        version = EXCLUDED.version,
        created_at = EXCLUDED.created_at,
        expires_at = EXCLUDED.expires_at,
        rule_kind = EXCLUDED.rule_kind,
        rule_ms = EXCLUDED.rule_ms,
        data = EXCLUDED.data
    WHERE t.expires_at <= $1
    RETURNING t.version, t.created_at, t.expires_at, t.rule_kind, t.rule_ms, t.data::text AS data
)
SELECT merged.size, written.*
FROM merged LEFT JOIN written ON true
