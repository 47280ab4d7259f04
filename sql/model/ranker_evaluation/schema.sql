CREATE TABLE IF NOT EXISTS ranker_evaluation (
    model_id VARCHAR NOT NULL,
    variant VARCHAR NOT NULL,          -- model | naive | logging | ceiling | model-naive (paired difference)
    metric VARCHAR NOT NULL,
    slice VARCHAR NOT NULL,            -- all | position:<bucket> | segment:<segment> | reliability:<bin>
    value DOUBLE,
    low DOUBLE,                        -- 95% bootstrap interval over requests (NULL where not computed)
    high DOUBLE
);
