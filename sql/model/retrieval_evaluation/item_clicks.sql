-- Clicks per item over [$first_day, $last_day] (the training days): the popularity
-- baseline's score, the head/tail split and the popularity of what a model retrieves.
SELECT item_id, count(*) AS clicks
FROM ctr_labels
WHERE day BETWEEN $first_day AND $last_day AND label = 1
GROUP BY item_id;
