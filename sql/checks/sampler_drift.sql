-- Each distribution of one sampler on $day against its baseline: per metric, the mean
-- share over the previous $baseline_days days that have that metric. One row per
-- (metric, key) with both shares (a missing key counts as 0), and PSI and Jensen-Shannon
-- terms on shares smoothed by 1e-4. popularity_share depends on how much click history
-- exists, so it is compared only from $history_complete_from (the first day whose
-- popularity window is fully covered by the logs), on both sides.
WITH shares AS (
    SELECT day, metric, key, value FROM sampler_metrics
    WHERE sampler = $sampler AND metric LIKE '%\_share' ESCAPE '\'
      AND (metric <> 'popularity_share' OR day >= $history_complete_from)
),
cur AS (
    SELECT metric, key, value FROM shares WHERE day = $day
),
base_rows AS (
    SELECT * FROM shares WHERE day < $day AND day >= $day - $baseline_days AND metric IN (SELECT metric FROM cur)
),
base AS (
    SELECT b.metric, b.key, sum(b.value) / d.days AS value, d.days
    FROM base_rows b
    JOIN (SELECT metric, count(DISTINCT day) AS days FROM base_rows GROUP BY metric) d USING (metric)
    GROUP BY b.metric, b.key, d.days
),
joined AS (
    SELECT
        coalesce(c.metric, b.metric) AS metric, coalesce(c.key, b.key) AS key,
        coalesce(c.value, 0) AS current_share, coalesce(b.value, 0) AS baseline_share,
        coalesce(c.value, 0) + 1e-4 AS p, coalesce(b.value, 0) + 1e-4 AS q
    FROM cur c FULL OUTER JOIN base b ON c.metric = b.metric AND c.key = b.key
    WHERE coalesce(c.metric, b.metric) IN (SELECT metric FROM base)
)
SELECT
    metric, key, current_share, baseline_share,
    (p - q) * ln(p / q) AS psi_term,
    0.5 * p * log2(p / ((p + q) / 2)) + 0.5 * q * log2(q / ((p + q) / 2)) AS js_term,
    (SELECT max(days) FROM base) AS baseline_days
FROM joined
ORDER BY metric, key;
