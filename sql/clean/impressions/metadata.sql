-- Figures of one clean impressions partition (user traffic).
SELECT
    round(avg(CASE WHEN visible_ms IS NULL THEN 1.0 ELSE 0.0 END), 4) AS "share/visibility_unknown",
    round(avg(CASE WHEN visible_ms = 0 THEN 1.0 ELSE 0.0 END), 4) AS "share/never_visible",
    round(avg(CASE WHEN propensity IS NOT NULL THEN 1.0 ELSE 0.0 END), 4) AS "share/with_propensity",
    max(position) AS "position/max"
FROM impressions
WHERE day = $day AND traffic = 'user';
