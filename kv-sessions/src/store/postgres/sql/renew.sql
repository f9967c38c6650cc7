-- Merge parameters $1-$13 (see merged.sql), $14 old id, $15 new id, $16 created_at (ms) of a
-- session created now. Where the old row is live, it is locked, merged and moved to the new id
-- in place, keeping its creation time. Otherwise, where the changes write a value, a new row
-- holds them alone. Otherwise no row comes back, and nothing is written. A result past the size
-- cap writes nothing, and the old row stays.
WITH old AS MATERIALIZED (
    SELECT version, created_at, rule_kind, rule_ms, data, true AS moved
    FROM {table}
    WHERE id = $14 AND expires_at > $1
    FOR UPDATE
),
source AS (
    SELECT * FROM old
    UNION ALL
    SELECT 0::bigint, $16, 0::smallint, 0::bigint, '{}'::jsonb, false
    WHERE NOT EXISTS (SELECT FROM old) AND $5::jsonb <> '{}'::jsonb
),
{merged},
moved AS (
    UPDATE {table} AS t SET
        id = $15,
        version = merged.version + 1,
        expires_at = merged.new_expires_at,
        rule_kind = merged.new_rule_kind,
        rule_ms = merged.new_rule_ms,
        data = merged.new_data
    FROM merged
    WHERE t.id = $14 AND merged.moved AND merged.size <= $13
    RETURNING t.version, t.created_at, t.expires_at, t.rule_kind, t.rule_ms, t.data::text AS data
),
created AS (
    INSERT INTO {table} AS t (id, version, created_at, expires_at, rule_kind, rule_ms, data)
    SELECT $15, merged.version + 1, merged.created_at, merged.new_expires_at,
        merged.new_rule_kind, merged.new_rule_ms, merged.new_data
    FROM merged
    WHERE NOT merged.moved AND merged.size <= $13
    ON CONFLICT (id) DO UPDATE SET
        version = EXCLUDED.version,
        created_at = EXCLUDED.created_at,
        expires_at = EXCLUDED.expires_at,
        rule_kind = EXCLUDED.rule_kind,
        rule_ms = EXCLUDED.rule_ms,
        data = EXCLUDED.data
    WHERE t.expires_at <= $1
    RETURNING t.version, t.created_at, t.expires_at, t.rule_kind, t.rule_ms, t.data::text AS data
),
written AS (
    SELECT * FROM moved
    UNION ALL
    SELECT * FROM created
)
SELECT merged.size, written.*
FROM merged LEFT JOIN written ON true
