-- Per-day aggregates of partition $day's history rows, by the day they became available and
-- by each key impression_context reads history by (the families). A snapshot sums the whole
-- days of a window from these, so its cost grows with the keys, not with the window's rows.
-- One scan and one GROUPING SETS aggregate for the families whose keys repeat within a day;
-- a family's key columns are those grouped, the others NULL (a NULL category inside the
-- query_category family is a real key: queries whose clicked item had no known category).
-- Groups no feature reads are not kept: a NULL user or query, a NULL category for user x
-- category, a user without an event. Query x item counts clicks only, so only click rows are
-- grouped for it. User x item has no rollup: it has about one group per exposure, as many as
-- history_rows has rows, and the snapshot reads those directly.
DELETE FROM history_rollups WHERE day = $day;

INSERT INTO history_rollups
SELECT
    day, avail_day,
    CASE
        WHEN GROUPING(user_id) = 0 AND GROUPING(category) = 0 THEN 'user_category'
        WHEN GROUPING(user_id) = 0 THEN 'user'
        WHEN GROUPING(query_key) = 0 AND GROUPING(category) = 0 THEN 'query_category'
        WHEN GROUPING(query_key) = 0 THEN 'query'
        ELSE 'item'
    END,
    user_id, item_id, category, query_key,
    sum(CASE WHEN kind = 'click' THEN 1 ELSE 0 END),
    sum(CASE WHEN kind = 'purchase' THEN 1 ELSE 0 END),
    sum(CASE WHEN kind = 'exposure' THEN 1 ELSE 0 END),
    sum(exposure),
    max(CASE WHEN kind = 'click' THEN avail END),
    max(CASE WHEN kind <> 'exposure' THEN avail END),
    max(CASE WHEN kind = 'exposure' THEN avail END)
FROM history_rows
WHERE day = $day
GROUP BY GROUPING SETS (
    (day, avail_day, user_id),
    (day, avail_day, user_id, category),
    (day, avail_day, item_id),
    (day, avail_day, query_key),
    (day, avail_day, query_key, category)
)
HAVING (GROUPING(user_id) = 1 OR user_id IS NOT NULL)
   AND (GROUPING(query_key) = 1 OR query_key IS NOT NULL)
   AND (GROUPING(user_id) = 1 OR GROUPING(category) = 1 OR category IS NOT NULL)
   AND NOT (GROUPING(user_id) = 0 AND GROUPING(category) = 1 AND max(CASE WHEN kind <> 'exposure' THEN avail END) IS NULL);

INSERT INTO history_rollups
SELECT
    day, avail_day, 'query_item', NULL, item_id, NULL, query_key,
    count(*), 0, 0, CAST(0 AS DECIMAL(38, 12)), max(avail), max(avail), NULL
FROM history_rows
WHERE day = $day AND kind = 'click' AND query_key IS NOT NULL
GROUP BY day, avail_day, query_key, item_id;
