-- Figures of one retrieval_negatives partition.
SELECT
    count(*) AS "rows",
    count(DISTINCT (request_id, positive_item_id)) AS "positives",
    round(count(*) / nullif(count(DISTINCT (request_id, positive_item_id)), 0), 3) AS "negatives_per_positive",
    count(DISTINCT item_id) AS "distinct_items",
    round(avg(weight), 5) AS "weight/mean"
FROM retrieval_negatives
WHERE day = $day;
