-- Figures of one return_labels partition.
SELECT
    count(*) AS "rows",
    count(*) FILTER (WHERE label = 1) AS "positives",
    round(avg(label), 5) AS "positive_rate",
    count(*) FILTER (WHERE censor_reason = 'tracking_outage') AS "censored/tracking_outage",
    count(*) FILTER (WHERE censor_reason = 'window_open') AS "censored/window_open"
FROM return_labels
WHERE day = $day;
