-- Scalar sampler metrics per day.
SELECT sampler, day, metric, value FROM sampler_metrics
WHERE metric IN ('negatives_per_positive', 'false_negative_estimate', 'shortfall_rate', 'zero_click_rate')
   OR (metric = 'filter_rate' AND key = 'not_known_positive')
ORDER BY sampler, metric, day;
