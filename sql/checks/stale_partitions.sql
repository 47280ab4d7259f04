-- Built days whose raw rows (the latest raw_logs inventory) differ from what their clean
-- partitions accounted for: late data arrived, rows disappeared, or a file holding the day's
-- rows was rewritten (its version changed) since they were built.
WITH partition_inputs AS (
    SELECT source_table, day, inputs_fingerprint(file, file_version) AS inputs
    FROM raw_logs WHERE day IS NOT NULL GROUP BY ALL
),
raw AS (
    SELECT day, sum(rows) AS raw_rows FROM raw_logs WHERE day IS NOT NULL GROUP BY day
),
accounted AS (
    SELECT day, sum(rows) AS accounted_rows FROM row_accounting WHERE day IS NOT NULL GROUP BY day
),
rewritten AS (
    SELECT DISTINCT a.day
    FROM row_accounting a
    LEFT JOIN partition_inputs i ON i.source_table = a.source_table AND i.day = a.day
    WHERE a.day IS NOT NULL AND a.inputs IS DISTINCT FROM i.inputs
),
now_inputs AS (
    SELECT day, md5(string_agg(inputs, ',' ORDER BY source_table)) AS inputs FROM partition_inputs GROUP BY day
)
SELECT a.day, coalesce(r.raw_rows, 0) AS raw_rows, a.accounted_rows, coalesce(n.inputs, '') AS inputs
FROM accounted a
LEFT JOIN raw r USING (day)
LEFT JOIN now_inputs n USING (day)
WHERE coalesce(r.raw_rows, 0) <> a.accounted_rows OR a.day IN (SELECT day FROM rewritten)
ORDER BY a.day;
