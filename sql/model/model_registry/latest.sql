-- The most recently trained ranker.
SELECT * FROM ctr_ranker ORDER BY trained_at DESC, model_id DESC LIMIT 1;
