-- event_id repeated within the checked partitions ($day NULL = all).
SELECT 'event_id' AS key, count(*) - count(DISTINCT event_id) AS duplicated
FROM events
WHERE $day IS NULL OR day = $day;
