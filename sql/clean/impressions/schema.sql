CREATE TABLE IF NOT EXISTS impressions (
    day DATE NOT NULL,
    request_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    position INTEGER NOT NULL,
    ts TIMESTAMP NOT NULL,
    visible_ms BIGINT,
    propensity DOUBLE,
    source VARCHAR,
    event_id VARCHAR NOT NULL,
    traffic VARCHAR NOT NULL           -- the request's traffic class
);
