CREATE TABLE IF NOT EXISTS retrieval_negatives (
    day DATE NOT NULL,
    request_id VARCHAR NOT NULL,
    positive_item_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    user_id VARCHAR,
    request_ts TIMESTAMP NOT NULL,
    source VARCHAR NOT NULL,           -- uniform | popularity | same_category | exposed_no_click | hard
    draw INTEGER NOT NULL,             -- the draw that produced it (deterministic for the seed)
    sampling_prob DOUBLE NOT NULL,     -- probability of this item under its source's proposal
    mixture_prob DOUBLE NOT NULL,      -- probability of this item under the policy's mixture of proposals (logQ correction)
    weight DOUBLE NOT NULL,
    category VARCHAR,
    popularity BIGINT NOT NULL,        -- user-traffic clicks in the popularity window before the day
    item_age_days DOUBLE,
    item_state_from TIMESTAMP NOT NULL,  -- start of the item state interval used (lineage; <= request_ts)
    sampler_version VARCHAR NOT NULL
);
