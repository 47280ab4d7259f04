-- The model to serve: the most recently registered promoted model.
SELECT model_id, registered_at, judged_by, promotion_reason
FROM model_registry WHERE promoted ORDER BY registered_at DESC, model_id DESC LIMIT 1;
