-- An arm's pool of one day, as draws.sql (of retrieval_negatives) just drew it into rn_kept.
SELECT request_id, positive_item_id, item_id, source, mixture_prob
FROM rn_kept
ORDER BY request_id, positive_item_id, source, draw;
