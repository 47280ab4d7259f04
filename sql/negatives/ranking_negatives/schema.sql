CREATE TABLE IF NOT EXISTS ranking_negatives (
    day DATE NOT NULL,
    request_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    user_id VARCHAR,
    position INTEGER NOT NULL,
    request_ts TIMESTAMP NOT NULL,
    source VARCHAR NOT NULL,           -- shown (a no-click of the same request)
    negative_type VARCHAR NOT NULL,
    weight DOUBLE NOT NULL,            -- carried over from ctr_labels
    sampling_prob DOUBLE NOT NULL,     -- probability this negative was kept (1 unless downsampled)
    item_state_from TIMESTAMP,         -- start of the item state interval used (lineage; <= request_ts)
    sampler_version VARCHAR NOT NULL
);
