-- Impressions and clicks per day of the training range: a day with impressions and no click
-- is a tracking outage, not a day of negatives.
SELECT day, count(*) AS impressions, sum(label) AS clicks
FROM ctr_labels
WHERE day BETWEEN $first_day AND $last_day
GROUP BY day
ORDER BY day;
