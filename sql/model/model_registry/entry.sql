-- The registry's row of one model: whether it is promoted, by which estimate, and why.
SELECT model_id, registered_at, promoted, judged_by, promotion_reason FROM model_registry WHERE model_id = $model_id;
