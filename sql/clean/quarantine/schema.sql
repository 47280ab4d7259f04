CREATE TABLE IF NOT EXISTS quarantine (
    day DATE,                          -- NULL: the row could not be placed in any partition
    source_table VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    source_file VARCHAR,
    source_row BIGINT,
    raw VARCHAR                        -- the raw row as JSON
);
