CREATE TABLE IF NOT EXISTS ctr_labels (
    day DATE NOT NULL,
    request_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    position INTEGER NOT NULL,
    request_ts TIMESTAMP NOT NULL,
    user_id VARCHAR,
    label INTEGER,                     -- 1 clicked within the window, 0 not clicked
    weight DOUBLE NOT NULL,
    negative_type VARCHAR,             -- explicit_hide | never_visible | skip_above | below_last_click | exposed_no_click
    censor_reason VARCHAR,             -- always NULL for CTR (exclusions are not rows; see label_exclusions)
    click_ts TIMESTAMP,
    visible_ms BIGINT,
    prior_exposures BIGINT NOT NULL,
    is_exploration BOOLEAN NOT NULL,
    propensity DOUBLE,
    weight_policy VARCHAR NOT NULL
);
