-- The day's draws (draws.sql, run first) written: retrieval_negatives and the draw outcomes.
DELETE FROM retrieval_negatives WHERE day = $day;

INSERT INTO retrieval_negatives
SELECT * FROM rn_kept;

DELETE FROM sampler_draws WHERE day = $day AND sampler = 'retrieval';

INSERT INTO sampler_draws
SELECT $day, 'retrieval', $sampler_version, source,
       CASE WHEN outcome_filter IS NOT NULL THEN outcome_filter WHEN survivor <= wanted THEN 'kept' ELSE 'surplus' END AS outcome,
       count(*)
FROM rn_draws
GROUP BY ALL
UNION ALL
SELECT $day, 'retrieval', $sampler_version, s.source, 'shortfall', sum(s.wanted - coalesce(k.kept, 0))
FROM (SELECT p._p, s.source, s.wanted FROM rn_pos p CROSS JOIN rn_sources s) s
LEFT JOIN (SELECT _p, source, count(*) AS kept FROM rn_draws
           WHERE outcome_filter IS NULL AND survivor <= wanted GROUP BY ALL) k
  USING (_p, source)
GROUP BY s.source;
