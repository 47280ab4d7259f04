CREATE TABLE IF NOT EXISTS events (
    day DATE NOT NULL,                 -- day of the logged ts
    event_id VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,             -- logged ts, raised to the request ts when clock skew put it before
    logged_ts TIMESTAMP NOT NULL,
    type VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    user_id VARCHAR,
    request_id VARCHAR,
    request_ts TIMESTAMP,              -- ts of the attributed request; NULL = unattributed or unresolved
    value DOUBLE,
    recorded_at TIMESTAMP NOT NULL,
    traffic VARCHAR                    -- the attributed request's traffic class; NULL when unattributed
);
