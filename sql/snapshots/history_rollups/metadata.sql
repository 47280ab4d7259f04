-- Figures of one history_rollups partition: keys per family.
SELECT
    count(*) AS "rows",
    count(*) FILTER (WHERE family = 'user') AS "keys/user",
    count(*) FILTER (WHERE family = 'user_category') AS "keys/user_category",
    count(*) FILTER (WHERE family = 'item') AS "keys/item",
    count(*) FILTER (WHERE family = 'query') AS "keys/query",
    count(*) FILTER (WHERE family = 'query_category') AS "keys/query_category",
    count(*) FILTER (WHERE family = 'query_item') AS "keys/query_item"
FROM history_rollups
WHERE day = $day;
