CREATE TABLE IF NOT EXISTS position_bias (
    method VARCHAR NOT NULL,           -- exploration_ratio | exploration_fit | pbm_em
    position INTEGER NOT NULL,
    theta DOUBLE NOT NULL,             -- examination probability relative to position 1
    low DOUBLE,                        -- 95% interval (exploration_ratio)
    high DOUBLE,
    used BOOLEAN NOT NULL,             -- the curve the ranker uses
    first_day DATE NOT NULL,           -- days the estimate is computed from
    last_day DATE NOT NULL
);
