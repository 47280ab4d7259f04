-- The sampler metrics of one day.
SELECT sampler, metric, key, value FROM sampler_metrics WHERE day = $day ORDER BY sampler, metric, key;
