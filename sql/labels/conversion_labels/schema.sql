CREATE TABLE IF NOT EXISTS conversion_labels (
    day DATE NOT NULL,                 -- day of the impression that was clicked
    request_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    user_id VARCHAR,
    click_ts TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
    label INTEGER,                     -- 1 purchased within the window, 0 not, NULL censored
    weight DOUBLE NOT NULL,
    negative_type VARCHAR,             -- clicked_no_conversion
    censor_reason VARCHAR,             -- item_unavailable | tracking_outage | window_open
    purchase_ts TIMESTAMP,
    label_cutoff TIMESTAMP NOT NULL    -- events were complete up to here when the label was built
);
