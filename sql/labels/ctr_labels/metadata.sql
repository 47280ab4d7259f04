-- Figures of one ctr_labels partition: size, positive rate, negative-type mix, weights.
SELECT
    count(*) AS "rows",
    count(*) FILTER (WHERE label = 1) AS "positives",
    round(avg(label), 5) AS "positive_rate",
    count(DISTINCT request_id) FILTER (WHERE label = 1) AS "requests_with_click",
    round(avg(CASE WHEN negative_type = 'explicit_hide' THEN 1.0 ELSE 0.0 END) FILTER (WHERE label = 0), 5) AS "negative_mix/explicit_hide",
    round(avg(CASE WHEN negative_type = 'never_visible' THEN 1.0 ELSE 0.0 END) FILTER (WHERE label = 0), 5) AS "negative_mix/never_visible",
    round(avg(CASE WHEN negative_type = 'skip_above' THEN 1.0 ELSE 0.0 END) FILTER (WHERE label = 0), 5) AS "negative_mix/skip_above",
    round(avg(CASE WHEN negative_type = 'below_last_click' THEN 1.0 ELSE 0.0 END) FILTER (WHERE label = 0), 5) AS "negative_mix/below_last_click",
    round(avg(CASE WHEN negative_type = 'exposed_no_click' THEN 1.0 ELSE 0.0 END) FILTER (WHERE label = 0), 5) AS "negative_mix/exposed_no_click",
    round(avg(weight) FILTER (WHERE label = 0), 5) AS "weight/negative_mean",
    round(quantile_cont(weight, 0.5) FILTER (WHERE label = 0), 5) AS "weight/negative_p50",
    round(quantile_cont(weight, 0.9) FILTER (WHERE label = 0), 5) AS "weight/negative_p90",
    count(*) FILTER (WHERE weight = 0) AS "weight/zero_rows",
    round(sum(weight) FILTER (WHERE label = 0) / nullif(sum(weight) FILTER (WHERE label = 1), 0), 4) AS "weight/negative_to_positive"
FROM ctr_labels
WHERE day = $day;
