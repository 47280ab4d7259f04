-- Macros available on every warehouse connection.
-- csv_contains('a, b', 'b') = true: membership in a comma-separated list (regions, event types).
CREATE OR REPLACE TEMP MACRO csv_contains(csv, value) AS
    list_contains(list_transform(string_split(csv, ','), lambda x: trim(x)), value);
-- The verdict on one copy of a key, first copy first (_copy = 1): later copies equal to the
-- first (same content hash) are duplicates; differing ones are quarantined with `conflict`
-- as their reason; a row already rejected (reason not NULL) keeps its reason.
CREATE OR REPLACE TEMP MACRO copy_reason(reason, copy, content, first_content, conflict) AS
    coalesce(reason, CASE WHEN copy > 1 AND content <> first_content THEN conflict END);
CREATE OR REPLACE TEMP MACRO copy_state(reason, copy, content, first_content) AS
    CASE
        WHEN reason IS NOT NULL OR (copy > 1 AND content <> first_content) THEN 'quarantined'
        WHEN copy > 1 THEN 'duplicate'
        ELSE 'clean'
    END;
-- inputs_fingerprint(file, file_version): an aggregate over raw_logs rows, the fingerprint of
-- the raw files (and their versions) behind a partition. A clean partition records it in
-- row_accounting; a rewrite of one of its files (even with as many rows) changes it.
CREATE OR REPLACE TEMP MACRO inputs_fingerprint(file, file_version) AS
    md5(string_agg(file || '@' || coalesce(file_version, ''), ',' ORDER BY file));
