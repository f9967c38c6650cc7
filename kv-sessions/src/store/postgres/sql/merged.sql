-- The merge of a request's changes into one source row, as `Changes::apply_to` does it. It
-- expects a CTE `source (version, created_at, rule_kind, rule_ms, data, ...)`: the locked live
-- row, or a blank one for a new session. Its parameters, shared by every write statement:
--
--   $1  now (ms)                 $8  the rule's rule_ms, if $6
--   $2  now + Expiry::LONGEST    $9  the deadline of that rule at now, uncapped, if $6
--   $3  clear the stored entries $10 the deadline of the policy's default rule at now, uncapped
--   $4  keys removed (text[])    $11 the absolute lifetime (ms), or NULL for none
--   $5  entries written: a JSON  $12 the first created_at (ms) from which created_at plus the
--       object of JSON strings       lifetime overflows, or NULL where none does
--   $6  whether a rule is set    $13 the size cap (bytes)
--   $7  the rule's rule_kind, if $6
--
-- Entries are stored as JSON strings holding the JSON text, so they come back byte for byte; a
-- session's size is the bytes of every key and JSON text, as the session layer counts it. The
-- deadline is the earliest of the rule's deadline, the absolute lifetime from creation and
-- now + 400 days, in whole milliseconds: the arithmetic of `SessionPolicy::deadline`.
merged AS MATERIALIZED (
    SELECT
        source.*,
        entries.data AS new_data,
        (
            SELECT coalesce(sum(octet_length(key) + octet_length(value)), 0)
            FROM jsonb_each_text(entries.data)
        ) AS size,
        rule.kind AS new_rule_kind,
        rule.ms AS new_rule_ms,
        LEAST(
            CASE
                WHEN $6 THEN $9
                WHEN rule.kind = 0 THEN $10
                WHEN rule.kind = 2 THEN rule.ms
                ELSE $1 + LEAST(rule.ms, {longest_ms})
            END,
            CASE
                WHEN $11 IS NULL THEN NULL
                -- Where created_at + lifetime overflows, `SessionPolicy::deadline` counts 400
                -- days from created_at instead.
                WHEN source.created_at >= $12 THEN LEAST(source.created_at, $1) + {longest_ms}
                -- Beyond $2 the lifetime caps nothing; leaving it out keeps the sum in range.
                WHEN source.created_at <= $2 AND $11 <= $2 - source.created_at
                    THEN source.created_at + $11
            END,
            $2
        ) AS new_expires_at
    FROM
        source,
        LATERAL (
            SELECT (CASE WHEN $3 THEN '{}'::jsonb ELSE source.data END - $4::text[]) || $5::jsonb
                AS data
        ) AS entries,
        LATERAL (
            SELECT
                CASE WHEN $6 THEN $7 ELSE source.rule_kind END AS kind,
                CASE WHEN $6 THEN $8 ELSE source.rule_ms END AS ms
        ) AS rule
)
