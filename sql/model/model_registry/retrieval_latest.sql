-- The most recently trained retrieval model, with its evaluation's headline figures (the
-- whole held-out set) when it was evaluated.
SELECT m.*, e.variant, e.metric, e.value, e.low, e.high
FROM (SELECT * FROM retrieval_model ORDER BY trained_at DESC, model_id DESC LIMIT 1) m
LEFT JOIN retrieval_evaluation e ON e.model_id = m.model_id AND e.slice = 'all';
