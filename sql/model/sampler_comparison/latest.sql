-- The rows of the latest sampler comparison, best arm first.
SELECT *
FROM sampler_comparison
WHERE comparison_id = (SELECT comparison_id FROM sampler_comparison ORDER BY compared_at DESC LIMIT 1)
ORDER BY rank, metric;
