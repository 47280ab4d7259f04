CREATE TABLE IF NOT EXISTS raw_logs (
    source_table VARCHAR NOT NULL,     -- requests | impressions | events | candidates
    file VARCHAR NOT NULL,
    day DATE,                          -- the partition the rows belong to; NULL = no usable time
    rows BIGINT NOT NULL,
    file_version VARCHAR               -- size and modification time when inventoried: a rewrite changes it
);
