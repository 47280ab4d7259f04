-- Every valid impression of the days [$first_day, $last_day] for position-bias estimation:
-- position, click, visibility, whether the request was randomized (exploration), and the
-- (context, item) pair of the position-based click model (context = query, else surface).
SELECT
    l.position,
    l.label,
    l.visible_ms,
    l.is_exploration,
    coalesce(lower(trim(c.query)), c.surface) || '|' || l.item_id AS pair
FROM ctr_labels l
JOIN impression_context c USING (day, request_id, item_id)
WHERE l.day BETWEEN $first_day AND $last_day
ORDER BY l.day, l.request_id, l.position;  -- a fixed order: the estimates' float sums are the same on every run
