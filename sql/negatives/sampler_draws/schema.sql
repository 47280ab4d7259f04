CREATE TABLE IF NOT EXISTS sampler_draws (
    day DATE NOT NULL,
    sampler VARCHAR NOT NULL,          -- ranking | retrieval
    sampler_version VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,          -- kept | surplus | a filter name | shortfall (wanted but not found)
    rows BIGINT NOT NULL
);
