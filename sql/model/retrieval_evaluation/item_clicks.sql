-- Per item over [$first_day, $last_day] (the training days): its clicks (the popularity
-- baseline's score, the head/tail split and the popularity of what a model retrieves) and its
-- exposures (labelled impressions: how likely a request was to show it, which weighs the
-- held-out clicks of ips_recall@100), with the days' number of requests.
SELECT item_id,
       sum(CASE WHEN label = 1 THEN 1 ELSE 0 END) AS clicks,
       count(*) AS exposures,
       (SELECT count(DISTINCT request_id) FROM ctr_labels WHERE day BETWEEN $first_day AND $last_day) AS requests
FROM ctr_labels
WHERE day BETWEEN $first_day AND $last_day
GROUP BY item_id;
