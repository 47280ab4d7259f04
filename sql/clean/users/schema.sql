CREATE TABLE IF NOT EXISTS users (
    user_id VARCHAR NOT NULL,
    segment VARCHAR,
    region VARCHAR,
    created_at TIMESTAMP,
    age_verified BOOLEAN NOT NULL
);
