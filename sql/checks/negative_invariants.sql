-- Invariants of the negatives of one sampler ($day NULL = every day), counted independently
-- of the sampler's own filters:
--   collisions   a negative clicked in the same request, or, when the policy promises
--                not_known_positive ($history_collisions), one the user clicked or bought
--                from $history_days before the request to the end of its click window
--   ineligible   not active and in stock at the request time, or (retrieval) not allowed
--                for the user's region or age
--   future       drawn from an item state not known at the request time
--   unversioned  no sampler version, or not the current policy's version
WITH n AS (
    SELECT 'ranking' AS sampler, day, request_id, item_id, user_id, request_ts, item_state_from, sampler_version
    FROM ranking_negatives
    UNION ALL
    SELECT 'retrieval', day, request_id, item_id, user_id, request_ts, item_state_from, sampler_version
    FROM retrieval_negatives
),
checked AS (
    SELECT
        n.*,
        ($history_collisions AND EXISTS (
            SELECT 1 FROM events e
            WHERE e.user_id = n.user_id AND e.item_id = n.item_id AND e.type IN ('click', 'purchase')
              AND e.ts >= n.request_ts - INTERVAL '1' DAY * CAST($history_days AS INTEGER)
              AND e.ts <= n.request_ts + INTERVAL '1' MINUTE * CAST($click_window_minutes AS INTEGER)
        )) OR EXISTS (
            SELECT 1 FROM ctr_labels l
            WHERE l.day = n.day AND l.request_id = n.request_id AND l.item_id = n.item_id AND l.label = 1
        ) AS collision,
        s.item_id IS NULL OR s.status <> 'active' OR NOT s.in_stock
            OR (n.sampler = 'retrieval' AND ((s.regions IS NOT NULL AND (c.region IS NULL OR NOT csv_contains(s.regions, c.region)))
                                             OR (s.age_restricted AND NOT coalesce(u.age_verified, false)))) AS ineligible,
        n.item_state_from IS NULL OR n.item_state_from > n.request_ts AS future
    FROM n
    LEFT JOIN item_state s ON s.item_id = n.item_id AND s.valid_from <= n.request_ts AND n.request_ts < s.valid_to
    LEFT JOIN (SELECT DISTINCT day, request_id, region FROM impression_context) c ON c.day = n.day AND c.request_id = n.request_id
    LEFT JOIN users u ON u.user_id = n.user_id
    WHERE n.sampler = $sampler AND ($day IS NULL OR n.day = $day)
)
SELECT
    count(*) AS rows,
    count(*) FILTER (WHERE collision) AS collisions,
    count(*) FILTER (WHERE ineligible) AS ineligible,
    count(*) FILTER (WHERE future) AS future,
    count(*) FILTER (WHERE sampler_version IS NULL OR sampler_version <> $sampler_version) AS unversioned,
    any_value(request_id || ' / ' || item_id) FILTER (WHERE collision) AS collision_example,
    any_value(request_id || ' / ' || item_id) FILTER (WHERE ineligible) AS ineligible_example
FROM checked;
