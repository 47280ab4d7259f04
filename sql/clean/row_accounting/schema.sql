CREATE TABLE IF NOT EXISTS row_accounting (
    day DATE,                          -- NULL: rows outside every partition (raw_logs)
    source_table VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,          -- clean | filtered | quarantined | duplicate (| out_of_range)
    rows BIGINT NOT NULL,
    inputs VARCHAR                     -- fingerprint of the raw files (and versions) the partition was built from
);
