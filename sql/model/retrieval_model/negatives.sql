-- The retrieval pools of [$first_day, $last_day]: each positive's negatives with the
-- mixture probability the logQ correction uses.
SELECT request_id, positive_item_id, item_id, source, mixture_prob
FROM retrieval_negatives
WHERE day BETWEEN $first_day AND $last_day
ORDER BY request_id, positive_item_id, source, draw;
