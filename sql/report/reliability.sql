-- Reliability bins of the latest model and the naive baseline.
SELECT variant, CAST(split_part(slice, ':', 2) AS INTEGER) AS bin,
       max(value) FILTER (WHERE metric = 'reliability_predicted') AS predicted,
       max(value) FILTER (WHERE metric = 'reliability_observed') AS observed
FROM ranker_evaluation
WHERE model_id = (SELECT model_id FROM ctr_ranker ORDER BY trained_at DESC, model_id DESC LIMIT 1)
  AND slice LIKE 'reliability:%'
GROUP BY variant, bin
ORDER BY variant, bin;
