CREATE TABLE IF NOT EXISTS history_rows (
    day DATE NOT NULL,                 -- partition: the day of the event or impression row it comes from
    avail TIMESTAMP NOT NULL,          -- from when it may count: greatest(ts, recorded_at) of an event, the request ts of an exposure
    avail_day DATE NOT NULL,           -- CAST(avail AS DATE): history windows are composed from whole days of it
    kind VARCHAR NOT NULL,             -- click | purchase | exposure
    user_id VARCHAR,
    item_id VARCHAR,
    category VARCHAR,                  -- the item's category as of the event (or request) time
    query_key VARCHAR,                 -- lower(trim(query)) of the request
    exposure DECIMAL(18, 12) NOT NULL  -- an exposure's examination prior, 1/position (0 unseen); 0 for events
);
