-- Figures of one ranking_negatives partition.
SELECT
    (SELECT count(*) FROM ranking_negatives WHERE day = $day) AS "rows",
    (SELECT count(DISTINCT request_id) FROM ranking_negatives WHERE day = $day) AS "groups",
    (SELECT count(*) FROM ctr_labels WHERE day = $day AND label = 1
        AND request_id IN (SELECT request_id FROM ranking_negatives WHERE day = $day)) AS "positives",
    (SELECT round(avg(weight), 5) FROM ranking_negatives WHERE day = $day) AS "weight/mean";
