-- The negatives one ranking sampler policy keeps for one day, from the candidates that
-- negatives/ranking_candidates just put in neg_ranking: the same rule ranking_negatives
-- applies, without writing anything (a comparison arm's training rows).
SELECT request_id, item_id FROM neg_ranking WHERE filtered_by IS NULL AND draw <= quota;
