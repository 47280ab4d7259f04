CREATE TABLE IF NOT EXISTS retrieval_comparison (
    comparison_id VARCHAR NOT NULL,
    compared_at TIMESTAMP NOT NULL,
    arm VARCHAR NOT NULL,              -- a retrieval sampler policy
    arm_version VARCHAR NOT NULL,      -- its version (name@hash)
    rank INTEGER NOT NULL,             -- by Recall@100 over the full catalog, 1 = best
    metric VARCHAR NOT NULL,
    slice VARCHAR NOT NULL,            -- all | head | tail
    value DOUBLE,
    low DOUBLE,                        -- 95% bootstrap interval over held-out requests
    high DOUBLE,
    recommendation VARCHAR NOT NULL
);
