-- request_id repeated within the checked partitions ($day NULL = all).
SELECT 'request_id' AS key, count(*) - count(DISTINCT request_id) AS duplicated
FROM requests
WHERE $day IS NULL OR day = $day;
