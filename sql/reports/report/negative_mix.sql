-- Share of each negative type (ranking) or source (retrieval) per day.
SELECT sampler, day, key, value FROM sampler_metrics WHERE metric = 'source_share' ORDER BY sampler, day, key;
