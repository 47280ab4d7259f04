-- The candidates of the ranking sampler (temp table neg_ranking): the shown, non-clicked items of the requests of
-- $day that have a click (or of every request when $all_requests), of the negative types
-- the policy names, with their label type and weight. Filters: the item was eligible at
-- request time (always true for CTR label rows; re-checked), and it is not a known
-- positive of the user. With $max_per_positive > 0, a request keeps at most that many
-- negatives per positive, chosen by a seeded hash; sampling_prob = kept / available.
CREATE OR REPLACE TEMP TABLE neg_ranking AS
WITH groups AS (
    SELECT request_id, count(*) FILTER (WHERE label = 1) AS positives
    FROM ctr_labels
    WHERE day = $day
    GROUP BY request_id
    HAVING $all_requests OR count(*) FILTER (WHERE label = 1) > 0
),
available AS (
    SELECT
        l.*, g.positives, c.item_state_from, c.ineligible_reason,
        kp.item_id IS NOT NULL AS known_positive
    FROM ctr_labels l
    JOIN groups g USING (request_id)
    JOIN impression_context c ON c.day = l.day AND c.request_id = l.request_id AND c.item_id = l.item_id
    LEFT JOIN known_positives kp ON kp.request_id = l.request_id AND kp.item_id = l.item_id
    WHERE l.day = $day AND l.label = 0 AND list_contains($negative_types, l.negative_type)
),
filtered AS (
    SELECT
        *,
        CASE
            WHEN $f_eligible AND ineligible_reason IS NOT NULL THEN 'ineligible'
            WHEN $f_known_positive AND known_positive THEN 'known_positive'
        END AS filtered_by
    FROM available
),
ranked AS (
    SELECT
        *,
        row_number() OVER w AS draw,
        count(*) OVER (PARTITION BY request_id, filtered_by IS NULL) AS kept_candidates
    FROM filtered
    WINDOW w AS (PARTITION BY request_id, filtered_by IS NULL ORDER BY hash($seed, request_id, item_id), item_id)
)
SELECT
    *,
    CASE WHEN $max_per_positive = 0 THEN kept_candidates ELSE least(kept_candidates, $max_per_positive * positives) END AS quota
FROM ranked;
