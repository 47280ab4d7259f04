-- The most recently trained retrieval model.
SELECT * FROM retrieval_model ORDER BY trained_at DESC, model_id DESC LIMIT 1;
