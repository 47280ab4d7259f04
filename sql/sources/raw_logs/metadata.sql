-- Per source table: rows, rows outside the partition range, rows without a usable time, days covered.
SELECT
    source_table,
    sum(rows) AS rows,
    sum(rows) FILTER (WHERE day IS NOT NULL AND (day < $range_start OR day >= $range_end)) AS out_of_range,
    sum(rows) FILTER (WHERE day IS NULL) AS unplaceable,
    count(DISTINCT day) FILTER (WHERE day >= $range_start AND day < $range_end) AS days
FROM raw_logs
GROUP BY source_table
ORDER BY source_table;
