-- Row accounting of one table partition ($day NULL: the unpartitioned share).
SELECT outcome, sum(rows) AS rows
FROM row_accounting
WHERE source_table = $table AND day IS NOT DISTINCT FROM $day
GROUP BY outcome;
