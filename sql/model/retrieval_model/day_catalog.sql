-- The items of each day of [$first_day, $last_day] that were active and in stock at some
-- time of the day: the normaliser of the full softmax on that day's positives.
SELECT DISTINCT d.day, s.item_id
FROM (SELECT DISTINCT day FROM ctr_labels WHERE day BETWEEN $first_day AND $last_day) d
JOIN item_state s
  ON s.valid_from < d.day + INTERVAL 1 DAY AND s.valid_to > d.day
WHERE s.in_stock AND s.status = 'active'
ORDER BY d.day, s.item_id;
