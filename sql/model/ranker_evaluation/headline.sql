-- Headline evaluation figures of one model (the whole evaluation set), with their 95% intervals
-- where computed; variant 'model-naive' holds the paired differences.
SELECT variant, metric, value, low, high FROM ranker_evaluation WHERE model_id = $model_id AND slice = 'all' ORDER BY variant, metric;
