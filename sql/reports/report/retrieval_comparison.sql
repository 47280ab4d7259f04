-- The rows of the latest retrieval comparison, best arm first.
SELECT *
FROM retrieval_comparison
WHERE comparison_id = (SELECT comparison_id FROM retrieval_comparison ORDER BY compared_at DESC LIMIT 1)
ORDER BY rank, metric, slice;
