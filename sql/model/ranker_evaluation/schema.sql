CREATE TABLE IF NOT EXISTS ranker_evaluation (
    model_id VARCHAR NOT NULL,
    variant VARCHAR NOT NULL,          -- model | naive | logging | ceiling
    metric VARCHAR NOT NULL,
    slice VARCHAR NOT NULL,            -- all | position:<bucket> | segment:<segment> | reliability:<bin>
    value DOUBLE
);
