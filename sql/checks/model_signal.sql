-- What the latest model was trained on: its best iteration and the clicks of its validation day.
WITH latest AS (
    SELECT model_id, valid_day, best_iteration FROM ctr_ranker ORDER BY trained_at DESC LIMIT 1
)
SELECT
    l.model_id,
    l.valid_day,
    l.best_iteration,
    (SELECT count(*) FROM ctr_labels c WHERE c.day = l.valid_day AND c.label = 1) AS valid_clicks
FROM latest l;
