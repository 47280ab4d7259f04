-- The latest registered ranker's sampler version, and how many ranking negatives of the
-- training days (all days but the last $eval_days) carry a version other than $sampler_version.
WITH days AS (SELECT DISTINCT day FROM ranking_negatives),
training AS (
    SELECT day FROM days WHERE day < (SELECT max(day) FROM days) - ($eval_days - 1)
)
SELECT
    (SELECT sampler_version FROM model_registry WHERE model_kind = 'ctr_ranker' ORDER BY registered_at DESC LIMIT 1) AS latest_model_version,
    (SELECT count(*) FROM ranking_negatives
     WHERE day IN (SELECT day FROM training) AND sampler_version <> $sampler_version) AS training_rows_other_versions;
