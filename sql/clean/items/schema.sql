CREATE TABLE IF NOT EXISTS items (
    item_id VARCHAR NOT NULL,
    valid_from TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
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
