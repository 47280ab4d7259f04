-- The ranker to serve: the most recently registered promoted ranker.
SELECT model_id, registered_at, judged_by, promotion_reason
FROM model_registry WHERE promoted AND model_kind = 'ctr_ranker' ORDER BY registered_at DESC, model_id DESC LIMIT 1;
