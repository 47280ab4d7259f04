-- Every valid impression of the days [$first_day, $last_day] for position-bias estimation:
-- position, click, visibility, the request's logging policy and whether it was randomized
-- (exploration), the logged propensity, and the (context, item) pair of the click models
-- (context = query, else surface). Requests stay contiguous (the exploration design is read
-- per request).
SELECT
    l.request_id,
    l.position,
    l.label,
    l.visible_ms,
    l.is_exploration,
    l.propensity,
    coalesce(c.policy, '') AS policy,
    coalesce(lower(trim(c.query)), c.surface) || '|' || l.item_id AS pair
FROM ctr_labels l
JOIN impression_context c USING (day, request_id, item_id)
WHERE l.day BETWEEN $first_day AND $last_day
ORDER BY l.day, l.request_id, l.position;  -- a fixed order: the estimates' float sums are the same on every run
