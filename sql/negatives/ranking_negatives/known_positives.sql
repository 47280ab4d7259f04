-- Known positives of the users with positives on $day: items the user clicked or bought
-- from $history_days before the request up to the end of its click window, plus every
-- item clicked in the same request (anonymous requests only have the latter). Shared by
-- both samplers and by the collision check.
CREATE OR REPLACE TEMP TABLE known_positives AS
SELECT DISTINCT q.request_id, e.item_id
FROM (SELECT DISTINCT request_id, user_id, request_ts FROM ctr_labels WHERE day = $day AND user_id IS NOT NULL) q
JOIN events e
  ON e.user_id = q.user_id
 AND e.ts >= q.request_ts - INTERVAL '1' DAY * CAST($history_days AS INTEGER)
 AND e.ts <= q.request_ts + INTERVAL '1' MINUTE * CAST($click_window_minutes AS INTEGER)
WHERE e.type IN ('click', 'purchase') AND e.day BETWEEN $day - $history_days - 1 AND $day + 1
UNION
SELECT request_id, item_id FROM ctr_labels WHERE day = $day AND label = 1;
