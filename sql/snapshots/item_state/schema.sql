CREATE TABLE IF NOT EXISTS item_state (
    item_id VARCHAR NOT NULL,
    valid_from TIMESTAMP NOT NULL,     -- from when this state is the item's state as known then
    valid_to TIMESTAMP NOT NULL,       -- exclusive; 9999-12-31 = still current
    version_valid_from TIMESTAMP NOT NULL,  -- business time of the version (items.valid_from)
    recorded_at TIMESTAMP NOT NULL,
    first_seen TIMESTAMP NOT NULL,     -- earliest valid_from known at valid_from (item age)
    category VARCHAR,
    subcategory VARCHAR,
    brand VARCHAR,
    price DOUBLE,
    in_stock BOOLEAN NOT NULL,
    status VARCHAR NOT NULL,
    regions VARCHAR,
    age_restricted BOOLEAN NOT NULL,
    dedup_group VARCHAR
);
