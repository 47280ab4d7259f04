-- Per quarantine reason, the rows of $table's partition $day the clean layer quarantined, with
-- the partition's raw rows (the raw_logs inventory): what the quarantine_rate check weighs.
WITH raw AS (
    SELECT coalesce(sum(rows), 0) AS raw_rows
    FROM raw_logs
    WHERE source_table = $table AND day = $day
)
SELECT q.reason, count(*) AS rows, (SELECT raw_rows FROM raw) AS raw_rows
FROM quarantine q
WHERE q.source_table = $table AND q.day = $day
GROUP BY q.reason
ORDER BY rows DESC, q.reason;
