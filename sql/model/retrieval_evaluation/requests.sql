-- The held-out requests of [$first_day, $last_day] with a click: one row per clicked item,
-- with the request's context and what decides which items it may be shown (region, age).
SELECT l.request_id, l.item_id, c.request_ts, c.user_id, coalesce(c.query, '') AS query, c.surface, c.device,
       c.region, c.segment, coalesce(u.age_verified, false) AS age_verified
FROM ctr_labels l
JOIN impression_context c ON c.day = l.day AND c.request_id = l.request_id AND c.item_id = l.item_id
LEFT JOIN users u ON u.user_id = l.user_id
WHERE l.day BETWEEN $first_day AND $last_day AND l.label = 1
ORDER BY c.request_ts, l.request_id, l.item_id;
