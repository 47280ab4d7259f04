CREATE TABLE IF NOT EXISTS position_bias (
    method VARCHAR NOT NULL,           -- exploration_ratio | exploration_fit | harvest_em | pbm_em | trust_em | none
    position INTEGER NOT NULL,
    theta DOUBLE,                      -- examination probability relative to position 1 (NULL: not identified there)
    low DOUBLE,                        -- 95% interval (exploration_ratio)
    high DOUBLE,
    used BOOLEAN NOT NULL,             -- the curve the ranker uses
    first_day DATE NOT NULL,           -- days the estimate is computed from
    last_day DATE NOT NULL,
    "offset" DOUBLE,                   -- trust bias: P(click | position, not relevant); NULL = 0
    identified BOOLEAN NOT NULL        -- the data identify the used curve (false: no correction applied)
);
