CREATE TABLE IF NOT EXISTS impression_context (
    day DATE NOT NULL,
    request_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    position INTEGER NOT NULL,         -- for labels, weights and debiasing; never a model feature
    request_ts TIMESTAMP NOT NULL,
    user_id VARCHAR,
    session_id VARCHAR,
    surface VARCHAR NOT NULL,
    query VARCHAR,
    device VARCHAR,
    region VARCHAR,
    segment VARCHAR,
    policy VARCHAR,
    is_exploration BOOLEAN NOT NULL,
    propensity DOUBLE,
    visible_ms BIGINT,
    source VARCHAR,
    -- item state as of request_ts
    category VARCHAR,
    subcategory VARCHAR,
    brand VARCHAR,
    price DOUBLE,
    price_rel DOUBLE,                  -- log price minus the category's median log price when the day starts
    dedup_group VARCHAR,
    item_age_days DOUBLE,
    ineligible_reason VARCHAR,         -- NULL = eligible for this user and region at request_ts
    item_state_from TIMESTAMP,         -- start of the item state interval used (lineage; always <= request_ts)
    -- history features: events that happened and were recorded strictly before request_ts
    u_clicks BIGINT NOT NULL,
    u_purchases BIGINT NOT NULL,
    u_hours_since_click DOUBLE,
    uc_clicks BIGINT NOT NULL,
    uc_purchases BIGINT NOT NULL,
    uc_recent_clicks BIGINT NOT NULL,  -- user's clicks in the category over the popularity window
    uc_exposure DOUBLE NOT NULL,       -- user's exposure-weighted impressions of the category, same window
    ui_clicks BIGINT NOT NULL,
    ui_prior_impressions BIGINT NOT NULL,
    i_impressions BIGINT NOT NULL,
    i_clicks BIGINT NOT NULL,
    i_purchases BIGINT NOT NULL,
    i_exposure DOUBLE NOT NULL,       -- past impressions weighted 1/position, 0 if never visible
    q_clicks BIGINT NOT NULL,
    qc_clicks BIGINT NOT NULL,
    qc_recent_clicks BIGINT NOT NULL,
    qc_exposure DOUBLE NOT NULL,
    qi_clicks BIGINT NOT NULL,
    history_max_ts TIMESTAMP           -- latest availability time of any event used (lineage; < request_ts)
);
