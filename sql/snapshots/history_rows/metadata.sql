-- Figures of one history_rows partition.
SELECT
    count(*) AS "rows",
    count(*) FILTER (WHERE kind = 'click') AS "rows/click",
    count(*) FILTER (WHERE kind = 'purchase') AS "rows/purchase",
    count(*) FILTER (WHERE kind = 'exposure') AS "rows/exposure",
    count(*) FILTER (WHERE avail_day > day) AS "rows/available_a_later_day",
    count(*) FILTER (WHERE category IS NULL) AS "rows/without_category"
FROM history_rows
WHERE day = $day;
