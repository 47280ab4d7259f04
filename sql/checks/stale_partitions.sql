-- Built days whose raw rows (the latest raw_logs inventory) differ from what their clean
-- partitions accounted for: late data arrived (or rows disappeared) since they were built.
WITH raw AS (
    SELECT day, sum(rows) AS raw_rows FROM raw_logs WHERE day IS NOT NULL GROUP BY day
),
accounted AS (
    SELECT day, sum(rows) AS accounted_rows FROM row_accounting WHERE day IS NOT NULL GROUP BY day
)
SELECT a.day, coalesce(r.raw_rows, 0) AS raw_rows, a.accounted_rows
FROM accounted a
LEFT JOIN raw r USING (day)
WHERE coalesce(r.raw_rows, 0) <> a.accounted_rows
ORDER BY a.day;
