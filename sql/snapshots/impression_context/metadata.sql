-- Figures of one impression_context partition: size, eligibility, feature coverage.
SELECT
    count(*) AS "impressions",
    count(DISTINCT request_id) AS "requests",
    count(*) FILTER (WHERE ineligible_reason IS NULL) AS "eligible",
    count(*) FILTER (WHERE ineligible_reason IS NOT NULL) AS "ineligible",
    round(avg(CASE WHEN u_clicks > 0 THEN 1.0 ELSE 0.0 END), 4) AS "share/user_has_history",
    round(avg(CASE WHEN i_impressions > 0 THEN 1.0 ELSE 0.0 END), 4) AS "share/item_has_history",
    round(avg(ui_prior_impressions), 4) AS "mean/ui_prior_impressions",
    round(avg(item_age_days), 2) AS "mean/item_age_days",
    count(*) FILTER (WHERE history_max_ts >= request_ts OR item_state_from > request_ts) AS "leaks"
FROM impression_context
WHERE day = $day;
