-- The latest retrieval model's evaluation on the held-out days: every variant's metrics over
-- the whole set (with 95% intervals) and its head/tail Recall@100.
SELECT e.model_id, e.variant, e.metric, e.slice, e.value, e.low, e.high
FROM retrieval_evaluation e
WHERE e.model_id = (SELECT model_id FROM retrieval_model ORDER BY trained_at DESC, model_id DESC LIMIT 1)
ORDER BY e.variant, e.metric, e.slice;
