CREATE TABLE IF NOT EXISTS outages (
    start_ts TIMESTAMP NOT NULL,
    end_ts TIMESTAMP NOT NULL,
    surface VARCHAR,                   -- NULL = every surface
    event_types VARCHAR                -- comma list; NULL = every event type
);
