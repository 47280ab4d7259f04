-- Figures of one hide_labels partition.
SELECT
    count(*) AS "rows",
    count(*) FILTER (WHERE label = 1) AS "positives",
    round(avg(label), 6) AS "positive_rate",
    count(*) FILTER (WHERE censor_reason = 'tracking_outage') AS "censored/tracking_outage",
    count(*) FILTER (WHERE reported) AS "reported"
FROM hide_labels
WHERE day = $day;
