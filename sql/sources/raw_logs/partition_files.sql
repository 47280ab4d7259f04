-- Files holding rows of partition $day or of the two days either side (context for dedup,
-- slates and request lookups), per source table, from the raw_logs inventory.
SELECT DISTINCT source_table, file
FROM raw_logs
WHERE day BETWEEN $day - 2 AND $day + 2
ORDER BY source_table, file;
