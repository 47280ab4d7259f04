-- Macros available on every warehouse connection.
-- csv_contains('a, b', 'b') = true: membership in a comma-separated list (regions, event types).
CREATE OR REPLACE TEMP MACRO csv_contains(csv, value) AS
    list_contains(list_transform(string_split(csv, ','), lambda x: trim(x)), value);
