-- Quarantined rows of one table partition by reason, most frequent first.
SELECT reason, count(*) AS rows
FROM quarantine
WHERE source_table = $table AND day IS NOT DISTINCT FROM $day
GROUP BY reason
ORDER BY rows DESC, reason;
