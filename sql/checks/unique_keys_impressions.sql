-- Slate keys repeated within the checked partitions ($day NULL = all).
SELECT 'event_id' AS key, count(*) - count(DISTINCT event_id) AS duplicated
FROM impressions WHERE $day IS NULL OR day = $day
UNION ALL
SELECT 'request_id,position', count(*) - count(DISTINCT (request_id, position))
FROM impressions WHERE $day IS NULL OR day = $day
UNION ALL
SELECT 'request_id,item_id', count(*) - count(DISTINCT (request_id, item_id))
FROM impressions WHERE $day IS NULL OR day = $day;
