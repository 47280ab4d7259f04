CREATE TABLE IF NOT EXISTS model_registry (
    model_id VARCHAR PRIMARY KEY,
    registered_at TIMESTAMP NOT NULL,
    model_path VARCHAR NOT NULL,
    sampler_version VARCHAR,
    sampler_policy_hash VARCHAR,
    weight_policy VARCHAR,
    training_partitions VARCHAR NOT NULL,   -- comma list of days
    eval_partitions VARCHAR NOT NULL,
    rows BIGINT NOT NULL,
    positives BIGINT NOT NULL,
    data_fingerprint VARCHAR NOT NULL,
    position_handling VARCHAR,              -- the ranker's; NULL for a retrieval model
    metrics VARCHAR NOT NULL,               -- JSON: headline metrics of ranker_evaluation
    dagster_run_id VARCHAR,
    promoted BOOLEAN,                       -- not significantly worse than naive on the best valid estimate
    judged_by VARCHAR,                      -- truth_ndcg@10 | ips_dcg@10 | exploration_snips; NULL = not judged
    promotion_reason VARCHAR,               -- the judgement in words
    model_kind VARCHAR NOT NULL DEFAULT 'ctr_ranker'  -- ctr_ranker | retrieval_model
);
