CREATE TABLE IF NOT EXISTS history_rollups (
    day DATE NOT NULL,                  -- partition: the history rows' day (history_rows.day)
    avail_day DATE NOT NULL,            -- the day the rows became available
    family VARCHAR NOT NULL,            -- user | user_category | item | query | query_category | query_item
    user_id VARCHAR,                    -- the family's key columns; NULL outside it
    item_id VARCHAR,
    category VARCHAR,
    query_key VARCHAR,
    clicks BIGINT NOT NULL,
    purchases BIGINT NOT NULL,
    impressions BIGINT NOT NULL,        -- exposure rows
    exposure DECIMAL(38, 12) NOT NULL,  -- sum of the exposure priors
    last_click TIMESTAMP,               -- latest avail of a click
    last_event TIMESTAMP,               -- latest avail of a click or purchase
    last_exposure TIMESTAMP             -- latest avail of an exposure
);
