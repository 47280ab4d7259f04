-- What a model trained on the days [$first_day, $last_day] was made of: the sampler and
-- weight-policy versions in its rows, and an order-independent fingerprint of the rows.
SELECT
    (SELECT string_agg(DISTINCT sampler_version, ',' ORDER BY sampler_version)
     FROM ranking_negatives WHERE day BETWEEN $first_day AND $last_day) AS sampler_versions,
    (SELECT string_agg(DISTINCT weight_policy, ',' ORDER BY weight_policy)
     FROM ctr_labels WHERE day BETWEEN $first_day AND $last_day) AS weight_policies,
    (SELECT count(*) FROM ranking_negatives WHERE day BETWEEN $first_day AND $last_day) AS negatives,
    (SELECT CAST(sum(CAST(hash(request_id, item_id, negative_type, weight, sampling_prob, sampler_version) AS HUGEINT))
                 % 18446744073709551557 AS UBIGINT)
     FROM ranking_negatives WHERE day BETWEEN $first_day AND $last_day) AS negatives_fingerprint,
    (SELECT CAST(sum(CAST(hash(request_id, item_id, label, weight, negative_type) AS HUGEINT)) % 18446744073709551557 AS UBIGINT)
     FROM ctr_labels WHERE day BETWEEN $first_day AND $last_day) AS labels_fingerprint;
