-- Whether the training days have request-level negatives at all (logs with one impression
-- per request have none: the ranker then trains on every shown item).
SELECT count(*) > 0 AS any_rows FROM (SELECT 1 FROM ranking_negatives WHERE day BETWEEN $first_day AND $last_day LIMIT 1);
