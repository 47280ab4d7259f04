-- Reliability bins of the latest model and the naive baseline, with the rows of each bin.
-- The bins are equal-count splits of a variant's held-out rows (evaluation.reliability,
-- numpy array_split): with n rows in k bins, the first n % k bins hold n // k + 1 rows and the
-- others n // k. n is the variant's 'rows' metric on slice 'all'; NULL when it is missing.
WITH latest AS (SELECT model_id FROM ctr_ranker ORDER BY trained_at DESC, model_id DESC LIMIT 1),
bins AS (
    SELECT variant, CAST(split_part(slice, ':', 2) AS INTEGER) AS bin,
           max(value) FILTER (WHERE metric = 'reliability_predicted') AS predicted,
           max(value) FILTER (WHERE metric = 'reliability_observed') AS observed
    FROM ranker_evaluation
    WHERE model_id = (SELECT model_id FROM latest) AND slice LIKE 'reliability:%'
    GROUP BY variant, bin
),
totals AS (
    SELECT variant, CAST(max(value) AS BIGINT) AS n
    FROM ranker_evaluation
    WHERE model_id = (SELECT model_id FROM latest) AND slice = 'all' AND metric = 'rows'
    GROUP BY variant
)
SELECT b.variant, b.bin, b.predicted, b.observed,
       t.n // k.bins + CASE WHEN b.bin <= t.n % k.bins THEN 1 ELSE 0 END AS rows
FROM bins b
JOIN (SELECT variant, count(*) AS bins FROM bins GROUP BY variant) k USING (variant)
LEFT JOIN totals t USING (variant)
ORDER BY b.variant, b.bin;
