CREATE TABLE IF NOT EXISTS sampler_comparison (
    comparison_id VARCHAR NOT NULL,     -- one per materialization: cmp-<time>-<data fingerprint>
    compared_at TIMESTAMP NOT NULL,
    arm VARCHAR NOT NULL,
    arm_version VARCHAR NOT NULL,       -- name@content hash of the arm's YAML file
    description VARCHAR,
    rank INTEGER NOT NULL,              -- 1 = best on the primary metric
    primary_metric VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE,
    low DOUBLE,                         -- 95% bootstrap interval, when the metric has one
    high DOUBLE,
    recommendation VARCHAR NOT NULL
);
