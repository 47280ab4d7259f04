CREATE TABLE IF NOT EXISTS candidates (
    day DATE NOT NULL,
    request_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    source VARCHAR,
    retrieval_rank INTEGER,
    retrieval_score DOUBLE,
    shown BOOLEAN NOT NULL
);
