-- $1 the table's name, as SQL. Whether the table exists, and the type of its id column: bytea
-- in this layout, uuid in the layout of earlier builds, which kept session ids in clear.
SELECT relation.oid IS NOT NULL AS present, format_type(id.atttypid, id.atttypmod) AS id_type
FROM (SELECT to_regclass($1) AS oid) AS relation
LEFT JOIN pg_attribute AS id
    ON id.attrelid = relation.oid AND id.attname = 'id' AND NOT id.attisdropped
