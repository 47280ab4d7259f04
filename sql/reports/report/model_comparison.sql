-- Headline evaluation of the latest model: every variant's figures on all held-out rows.
SELECT e.variant, e.metric, e.value
FROM ranker_evaluation e
WHERE e.model_id = (SELECT model_id FROM ctr_ranker ORDER BY trained_at DESC, model_id DESC LIMIT 1) AND e.slice = 'all'
ORDER BY e.variant, e.metric;
