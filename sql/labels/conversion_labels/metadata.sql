-- Figures of one conversion_labels partition: size, conversion rate, censoring by reason.
SELECT
    count(*) AS "rows",
    count(*) FILTER (WHERE label = 1) AS "positives",
    round(avg(label), 5) AS "positive_rate",
    round(avg(CASE WHEN label IS NULL THEN 1.0 ELSE 0.0 END), 5) AS "censored_rate",
    count(*) FILTER (WHERE censor_reason = 'item_unavailable') AS "censored/item_unavailable",
    count(*) FILTER (WHERE censor_reason = 'tracking_outage') AS "censored/tracking_outage",
    count(*) FILTER (WHERE censor_reason = 'window_open') AS "censored/window_open"
FROM conversion_labels
WHERE day = $day;
