-- The head of the catalog on the days [$first_day, $last_day]: the most clicked items that
-- together take the first $head_share of all clicks. Everything else (including items
-- never clicked) is the long tail.
WITH clicks AS (
    SELECT item_id, count(*) AS clicks FROM ctr_labels
    WHERE day BETWEEN $first_day AND $last_day AND label = 1
    GROUP BY item_id
),
running AS (
    SELECT item_id, clicks,
           sum(clicks) OVER (ORDER BY clicks DESC, item_id ROWS UNBOUNDED PRECEDING) AS cum,
           sum(clicks) OVER () AS total
    FROM clicks
)
SELECT item_id FROM running WHERE (cum - clicks) < $head_share * total;
