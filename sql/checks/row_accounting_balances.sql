-- Per partition of $table ($day NULL = every partition): raw rows placed there by the
-- raw_logs inventory versus rows accounted for by the clean asset.
WITH raw AS (
    SELECT day, sum(rows) AS raw_rows
    FROM raw_logs
    WHERE source_table = $table AND day IS NOT NULL AND ($day IS NULL OR day = $day)
    GROUP BY day
),
accounted AS (
    SELECT day, sum(rows) AS accounted_rows
    FROM row_accounting
    WHERE source_table = $table AND day IS NOT NULL AND ($day IS NULL OR day = $day)
    GROUP BY day
)
SELECT a.day, coalesce(r.raw_rows, 0) AS raw_rows, a.accounted_rows
FROM accounted a
LEFT JOIN raw r USING (day)
ORDER BY a.day;
