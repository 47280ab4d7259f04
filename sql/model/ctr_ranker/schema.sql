CREATE TABLE IF NOT EXISTS ctr_ranker (
    model_id VARCHAR NOT NULL,
    trained_at TIMESTAMP NOT NULL,
    model_path VARCHAR NOT NULL,
    position_handling VARCHAR NOT NULL,
    training_rows VARCHAR NOT NULL,
    train_first_day DATE NOT NULL,
    train_last_day DATE NOT NULL,
    valid_day DATE NOT NULL,
    rows BIGINT NOT NULL,
    positives BIGINT NOT NULL,
    groups BIGINT NOT NULL,
    best_iteration INTEGER NOT NULL,
    sampler_version VARCHAR,
    weight_policy VARCHAR,
    data_fingerprint VARCHAR NOT NULL,
    config VARCHAR NOT NULL            -- JSON
);
