-- Request-level negatives for the ranker: the kept candidates of negatives/ranking_candidates
-- (run just before, in the same transaction), tagged with the sampler version, and the draw
-- outcomes for sampler_metrics.
DELETE FROM ranking_negatives WHERE day = $day;

INSERT INTO ranking_negatives
SELECT day, request_id, item_id, user_id, position, request_ts, 'shown', negative_type, weight,
       quota / kept_candidates, item_state_from, $sampler_version
FROM neg_ranking
WHERE filtered_by IS NULL AND draw <= quota;

DELETE FROM sampler_draws WHERE day = $day AND sampler = 'ranking';

INSERT INTO sampler_draws
SELECT $day, 'ranking', $sampler_version, negative_type,
       CASE
           WHEN filtered_by = 'ineligible' THEN 'eligible_at_request_time'
           WHEN filtered_by = 'known_positive' THEN 'not_known_positive'
           WHEN draw <= quota THEN 'kept'
           ELSE 'downsampled'
       END AS outcome,
       count(*)
FROM neg_ranking
GROUP BY ALL;
