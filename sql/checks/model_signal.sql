-- What the latest model was trained and judged on: its best iteration, the clicks of its
-- validation day, and its headline figures next to the naive model's.
WITH latest AS (
    SELECT model_id, valid_day, best_iteration FROM ctr_ranker ORDER BY trained_at DESC LIMIT 1
)
SELECT
    l.model_id,
    l.valid_day,
    l.best_iteration,
    (SELECT count(*) FROM ctr_labels c WHERE c.day = l.valid_day AND c.label = 1) AS valid_clicks,
    max(CASE WHEN e.variant = 'model' AND e.metric = 'truth_ndcg@10' THEN e.value END) AS model_truth_ndcg,
    max(CASE WHEN e.variant = 'naive' AND e.metric = 'truth_ndcg@10' THEN e.value END) AS naive_truth_ndcg,
    max(CASE WHEN e.variant = 'model' AND e.metric = 'exploration_snips' THEN e.value END) AS model_snips,
    max(CASE WHEN e.variant = 'naive' AND e.metric = 'exploration_snips' THEN e.value END) AS naive_snips,
    max(CASE WHEN e.variant = 'model' AND e.metric = 'exploration_requests' THEN e.value END) AS exploration_requests
FROM latest l
LEFT JOIN ranker_evaluation e ON e.model_id = l.model_id AND e.slice = 'all'
GROUP BY ALL;
