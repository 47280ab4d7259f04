CREATE TABLE IF NOT EXISTS return_labels (
    day DATE NOT NULL,                 -- day of the purchase
    purchase_event_id VARCHAR NOT NULL,
    request_id VARCHAR,                -- the purchase's attributed request, if any
    item_id VARCHAR NOT NULL,
    user_id VARCHAR,
    purchase_ts TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
    label INTEGER,                     -- 1 returned within the window (post-conversion negative), 0 kept, NULL censored
    weight DOUBLE NOT NULL,
    negative_type VARCHAR,             -- purchase_kept
    censor_reason VARCHAR,             -- tracking_outage | window_open
    return_ts TIMESTAMP,
    label_cutoff TIMESTAMP NOT NULL
);
