-- The clicks of [$first_day, $last_day] a retrieval model learns from (the positives the
-- retrieval sampler drew negatives for), with their request's context, in a fixed order.
SELECT l.day, l.request_id, l.item_id, c.user_id, coalesce(c.query, '') AS query, c.surface, c.device, c.region,
       c.segment
FROM ctr_labels l
JOIN impression_context c ON c.day = l.day AND c.request_id = l.request_id AND c.item_id = l.item_id
WHERE l.day BETWEEN $first_day AND $last_day AND l.label = 1
ORDER BY l.day, l.request_id, l.item_id;
