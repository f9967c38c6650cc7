-- $1 the table's name, as SQL. Whether the table exists; the type of its id column: bytea in
-- this layout, uuid in the layout of earlier builds, which kept session ids in clear; and
-- whether it has the columns of a session's binding, which tables of earlier releases lack.
SELECT relation.oid IS NOT NULL AS present, format_type(id.atttypid, id.atttypmod) AS id_type,
    (SELECT count(*) = 3 FROM pg_attribute AS binding
        WHERE binding.attrelid = relation.oid AND NOT binding.attisdropped
            AND binding.attname IN ('owner_user', 'owner_label', 'saved_at')) AS bindable
FROM (SELECT to_regclass($1) AS oid) AS relation
LEFT JOIN pg_attribute AS id
    ON id.attrelid = relation.oid AND id.attname = 'id' AND NOT id.attisdropped
