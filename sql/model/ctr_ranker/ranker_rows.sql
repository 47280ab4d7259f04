-- Rows for the CTR ranker from the days [$first_day, $last_day], one per (request, item),
-- ordered so that each request's rows are contiguous (one LightGBM group per request).
-- $source = 'negatives': the positives of the requests that have ranking negatives, and
--   those negatives (types, weights and sampling_prob from the sampler policy);
-- $source = 'all_shown': every valid impression (ctr_labels), for naive training,
--   calibration and evaluation.
-- Features come from impression_context (as of the request time); position is returned
-- for debiasing and evaluation only. truth_attractiveness is NULL on user logs.
-- [$lo, $hi): the requests whose id is in this range (NULL: unbounded), so that a large
-- hand-off runs as several queries whose joins and sort each hold a part of the rows.
WITH grouped AS (
    SELECT DISTINCT day, request_id FROM ranking_negatives
    WHERE day BETWEEN $first_day AND $last_day
      AND ($lo IS NULL OR request_id >= $lo) AND ($hi IS NULL OR request_id < $hi)
),
rows AS (
    SELECT l.day, l.request_id, l.item_id, l.position, l.label, l.weight, 'positive' AS negative_type, 1.0 AS sampling_prob
    FROM ctr_labels l
    JOIN grouped g USING (day, request_id)
    WHERE $source = 'negatives' AND l.label = 1
    UNION ALL
    SELECT n.day, n.request_id, n.item_id, n.position, 0, n.weight, n.negative_type, n.sampling_prob
    FROM ranking_negatives n
    WHERE $source = 'negatives' AND n.day BETWEEN $first_day AND $last_day
      AND ($lo IS NULL OR n.request_id >= $lo) AND ($hi IS NULL OR n.request_id < $hi)
    UNION ALL
    SELECT l.day, l.request_id, l.item_id, l.position, l.label, l.weight, coalesce(l.negative_type, 'positive'), 1.0
    FROM ctr_labels l
    WHERE $source = 'all_shown' AND l.day BETWEEN $first_day AND $last_day
      AND ($lo IS NULL OR l.request_id >= $lo) AND ($hi IS NULL OR l.request_id < $hi)
)
SELECT
    r.day, r.request_id, r.item_id, r.position, r.label, r.weight, r.negative_type, r.sampling_prob,
    c.is_exploration, c.propensity, c.segment, c.surface, c.device, c.region, c.category, c.brand,
    ln(1 + coalesce(c.price, 0)) AS log_price, c.price_rel,
    c.item_age_days,
    c.u_clicks, c.u_purchases, c.u_hours_since_click,
    c.uc_clicks, c.uc_purchases, c.uc_clicks / (c.u_clicks + 1.0) AS uc_share,
    c.uc_exposure, (c.uc_recent_clicks + 0.1) / (c.uc_exposure + 1.0) AS uc_ctr_exposure,
    c.ui_clicks, c.ui_prior_impressions,
    c.i_impressions, c.i_clicks, c.i_purchases, (c.i_clicks + 1.0) / (c.i_impressions + 20.0) AS i_ctr,
    c.i_exposure, (c.i_clicks + 0.2) / (c.i_exposure + 2.0) AS i_ctr_exposure,
    c.q_clicks, c.qc_clicks, c.qc_clicks / (c.q_clicks + 1.0) AS qc_share,
    c.qc_exposure, (c.qc_recent_clicks + 0.2) / (c.qc_exposure + 2.0) AS qc_ctr_exposure,
    c.qi_clicks, c.qi_clicks / (c.q_clicks + 1.0) AS qi_share,
    t.attractiveness AS truth_attractiveness
FROM rows r
JOIN (SELECT * FROM impression_context
      WHERE day BETWEEN $first_day AND $last_day
        AND ($lo IS NULL OR request_id >= $lo) AND ($hi IS NULL OR request_id < $hi)) c
    ON c.day = r.day AND c.request_id = r.request_id AND c.item_id = r.item_id
LEFT JOIN (SELECT * FROM truth_attractiveness
           WHERE ($lo IS NULL OR request_id >= $lo) AND ($hi IS NULL OR request_id < $hi)) t
    ON t.request_id = r.request_id AND t.item_id = r.item_id
ORDER BY r.day, r.request_id, r.position;
