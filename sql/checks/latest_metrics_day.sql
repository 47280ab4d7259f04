-- The latest day that has sampler metrics.
SELECT max(day) AS day FROM sampler_metrics HAVING max(day) IS NOT NULL;
