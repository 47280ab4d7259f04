CREATE TABLE IF NOT EXISTS sampler_metrics (
    day DATE NOT NULL,
    sampler VARCHAR NOT NULL,          -- ranking | retrieval
    sampler_version VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,           -- e.g. source_share, category_share, filter_rate, negatives_per_positive
    key VARCHAR NOT NULL,              -- the category of a distribution ('' for a scalar)
    value DOUBLE NOT NULL
);
