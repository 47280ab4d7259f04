-- Headline evaluation figures of one model (the whole evaluation set).
SELECT variant, metric, value FROM ranker_evaluation WHERE model_id = $model_id AND slice = 'all' ORDER BY variant, metric;
