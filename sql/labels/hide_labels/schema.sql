CREATE TABLE IF NOT EXISTS hide_labels (
    day DATE NOT NULL,
    request_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    user_id VARCHAR,
    position INTEGER NOT NULL,
    label INTEGER,                     -- 1 hidden within the window, 0 not, NULL censored
    weight DOUBLE NOT NULL,
    negative_type VARCHAR,             -- exposed_no_hide
    censor_reason VARCHAR,             -- tracking_outage
    reported BOOLEAN NOT NULL          -- a report (safety signal) in the window; never a preference label
);
