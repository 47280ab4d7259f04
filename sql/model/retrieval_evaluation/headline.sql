-- The latest retrieval model's Recall@100 on the held-out days per variant (whole set), and
-- its registry verdict, for the console summary.
SELECT m.model_id, e.variant, e.value, r.promoted, r.promotion_reason
FROM (SELECT model_id FROM retrieval_model ORDER BY trained_at DESC, model_id DESC LIMIT 1) m
JOIN retrieval_evaluation e ON e.model_id = m.model_id AND e.metric = 'recall@100' AND e.slice = 'all'
LEFT JOIN model_registry r ON r.model_id = m.model_id
ORDER BY e.variant;
