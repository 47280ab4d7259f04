-- Each distribution of one sampler on $day against its baseline: per metric, the mean
-- share over the previous $baseline_days days that have that metric. One row per
-- (metric, key) with both shares (a missing key counts as 0), the sample sizes behind
-- them, PSI and Jensen-Shannon terms, and how much of each a sampling noise would explain.
-- popularity_share depends on how much click history exists, so it is compared only from
-- $history_complete_from (the first day whose popularity window is fully covered by the
-- logs), on both sides.
--
-- Sample size. Negatives of one request share its segment and surface, and negatives of
-- one item share its category and age, so they are not independent draws: a day's
-- effective size n is the smaller of the Kish sizes (sum c)^2 / sum c^2 over its requests
-- and over its items (c = negatives per request or per item), at most the number of
-- negatives. popularity_share only counts negatives on clicked items: its n is scaled by
-- 1 - zero_click_rate. The baseline is a mean of daily shares, so its n is
-- days^2 / sum(1 / n_day) (the variance of a mean of independent daily shares).
--
-- Noise. Shares are smoothed by half a draw per key ((share * n + 0.5) / (n + 0.5 K), K the
-- keys of the metric), so a key absent from a small sample is not read as a share of 0.
-- Two samples of sizes n1, n2 from one distribution give PSI ~ chi-square(K - 1) *
-- (1/n1 + 1/n2) (PSI is close to the chi-square distance between the shares); psi_noise is
-- that bound at the one-sided normal quantile $z, by the Wilson-Hilferty approximation of
-- the chi-square quantile. share_z is a key's share difference over its binomial standard
-- error sqrt(s (1 - s) (1/n1 + 1/n2)), s the pooled share.
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
negatives AS (
    SELECT day, request_id, item_id FROM ranking_negatives
    WHERE $sampler = 'ranking' AND day <= $day AND day >= $day - $baseline_days
    UNION ALL
    SELECT day, request_id, item_id FROM retrieval_negatives
    WHERE $sampler = 'retrieval' AND day <= $day AND day >= $day - $baseline_days
),
per_request AS (
    SELECT day, count(*) AS c FROM negatives GROUP BY day, request_id
),
per_item AS (
    SELECT day, count(*) AS c FROM negatives GROUP BY day, item_id
),
day_sizes AS (
    SELECT r.day, r.negatives, r.requests, i.items, least(r.n_requests, i.n_items) AS n
    FROM (SELECT day, sum(c) AS negatives, count(*) AS requests, sum(c) ^ 2 / sum(c * c) AS n_requests
          FROM per_request GROUP BY day) r
    JOIN (SELECT day, count(*) AS items, sum(c) ^ 2 / sum(c * c) AS n_items FROM per_item GROUP BY day) i USING (day)
),
metric_sizes AS (  -- n per (day, metric) of the days compared
    SELECT m.day, m.metric, d.negatives, d.requests, d.items,
           d.n * CASE WHEN m.metric = 'popularity_share' THEN 1 - coalesce(z.value, 0) ELSE 1 END AS n
    FROM (SELECT DISTINCT CAST($day AS DATE) AS day, metric FROM cur UNION SELECT DISTINCT day, metric FROM base_rows) m
    JOIN day_sizes d USING (day)
    LEFT JOIN sampler_metrics z ON z.sampler = $sampler AND z.day = m.day AND z.metric = 'zero_click_rate'
),
base AS (
    SELECT b.metric, b.key, sum(b.value) / d.days AS value, d.days
    FROM base_rows b
    JOIN (SELECT metric, count(DISTINCT day) AS days FROM base_rows GROUP BY metric) d USING (metric)
    GROUP BY b.metric, b.key, d.days
),
sizes AS (  -- per metric: n of the day and of the baseline mean
    SELECT c.metric, c.n AS current_n, c.negatives, c.requests, c.items, b.baseline_n
    FROM metric_sizes c
    LEFT JOIN (SELECT metric, count(*) ^ 2 / sum(1 / n) AS baseline_n FROM metric_sizes WHERE day < $day GROUP BY metric) b
        USING (metric)
    WHERE c.day = $day
),
joined AS (
    SELECT
        coalesce(c.metric, b.metric) AS metric, coalesce(c.key, b.key) AS key,
        coalesce(c.value, 0) AS current_share, coalesce(b.value, 0) AS baseline_share
    FROM cur c FULL OUTER JOIN base b ON c.metric = b.metric AND c.key = b.key
    WHERE coalesce(c.metric, b.metric) IN (SELECT metric FROM base)
),
smoothed AS (
    SELECT j.*, coalesce(s.current_n, 0) AS current_n, coalesce(s.baseline_n, 0) AS baseline_n,
           coalesce(s.negatives, 0) AS negatives, coalesce(s.requests, 0) AS requests, coalesce(s.items, 0) AS items, k.keys,
           (j.current_share * s.current_n + 0.5) / (s.current_n + 0.5 * k.keys) AS p,
           (j.baseline_share * s.baseline_n + 0.5) / (s.baseline_n + 0.5 * k.keys) AS q,
           (j.current_share * s.current_n + j.baseline_share * s.baseline_n) / (s.current_n + s.baseline_n) AS pooled,
           1 / s.current_n + 1 / s.baseline_n AS inv_n,
           greatest(k.keys - 1, 1) AS df
    FROM joined j
    LEFT JOIN sizes s USING (metric)
    JOIN (SELECT metric, count(*) AS keys FROM joined GROUP BY metric) k USING (metric)
)
SELECT
    metric, key, current_share, baseline_share,
    (p - q) * ln(p / q) AS psi_term,
    0.5 * p * log2(p / ((p + q) / 2)) + 0.5 * q * log2(q / ((p + q) / 2)) AS js_term,
    df * (1 - 2 / (9 * df) + $z * sqrt(2 / (9 * df))) ^ 3 * inv_n AS psi_noise,
    abs(current_share - baseline_share) / greatest(sqrt(pooled * (1 - pooled) * inv_n), 1e-12) AS share_z,
    current_n, baseline_n, negatives, requests, items,
    (SELECT max(days) FROM base) AS baseline_days
FROM smoothed
ORDER BY metric, key;
