CREATE TABLE IF NOT EXISTS retrieval_evaluation (
    model_id VARCHAR NOT NULL,
    variant VARCHAR NOT NULL,    -- model | no_logq | full_softmax | popularity
    metric VARCHAR NOT NULL,     -- recall@50, recall@100, recall@200, ndcg@100, ..., truth_* on simulated logs
    slice VARCHAR NOT NULL,      -- all | head | tail
    value DOUBLE,
    low DOUBLE,                  -- 95% bootstrap interval over requests
    high DOUBLE
);
