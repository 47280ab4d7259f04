CREATE TABLE IF NOT EXISTS requests (
    day DATE NOT NULL,
    request_id VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    user_id VARCHAR,
    session_id VARCHAR,
    surface VARCHAR NOT NULL,
    query VARCHAR,
    device VARCHAR,
    region VARCHAR,
    policy VARCHAR,
    is_exploration BOOLEAN NOT NULL,
    traffic VARCHAR NOT NULL,          -- user | bot | internal | test
    traffic_source VARCHAR NOT NULL,   -- logged | detected
    in_outage BOOLEAN NOT NULL         -- served inside a logged tracking outage window
);
