-- What a retrieval model trained on the days [$first_day, $last_day] was made of: the
-- sampler versions of its pools, and order-independent fingerprints of the pools and of
-- the positives.
SELECT
    (SELECT string_agg(DISTINCT sampler_version, ',' ORDER BY sampler_version)
     FROM retrieval_negatives WHERE day BETWEEN $first_day AND $last_day) AS sampler_versions,
    (SELECT count(*) FROM retrieval_negatives WHERE day BETWEEN $first_day AND $last_day) AS negatives,
    (SELECT CAST(sum(CAST(hash(request_id, positive_item_id, item_id, source, mixture_prob, sampler_version) AS HUGEINT))
                 % 18446744073709551557 AS UBIGINT)
     FROM retrieval_negatives WHERE day BETWEEN $first_day AND $last_day) AS negatives_fingerprint,
    (SELECT CAST(sum(CAST(hash(request_id, item_id) AS HUGEINT)) % 18446744073709551557 AS UBIGINT)
     FROM ctr_labels WHERE day BETWEEN $first_day AND $last_day AND label = 1) AS positives_fingerprint;
