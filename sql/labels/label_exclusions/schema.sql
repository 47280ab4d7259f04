CREATE TABLE IF NOT EXISTS label_exclusions (
    day DATE NOT NULL,
    task VARCHAR NOT NULL,             -- ctr | conversion | hide | return
    reason VARCHAR NOT NULL,
    rows BIGINT NOT NULL
);
