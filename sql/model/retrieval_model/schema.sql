CREATE TABLE IF NOT EXISTS retrieval_model (
    model_id VARCHAR PRIMARY KEY,
    trained_at TIMESTAMP NOT NULL,
    model_path VARCHAR NOT NULL,
    loss VARCHAR NOT NULL,                  -- sampled | full
    logq BOOLEAN NOT NULL,
    train_first_day DATE NOT NULL,
    train_last_day DATE NOT NULL,
    valid_day DATE NOT NULL,
    positives BIGINT NOT NULL,
    negatives BIGINT NOT NULL,
    best_epoch INTEGER NOT NULL,
    sampler_version VARCHAR,                -- retrieval sampler version(s) of the pools it trained on
    data_fingerprint VARCHAR NOT NULL,
    config VARCHAR NOT NULL                 -- JSON: training configuration, lineage, history
);
