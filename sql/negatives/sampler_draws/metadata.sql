-- Draw outcomes of one sampler and day: kept, removed by each filter, surplus, shortfall.
SELECT outcome, sum(rows) AS rows FROM sampler_draws WHERE day = $day AND sampler = $sampler GROUP BY outcome ORDER BY outcome;
