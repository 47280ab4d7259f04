-- Inventory of the logs: rows per (table, file, day) for the partitioned tables with each
-- file's version (`file_versions`, registered by the caller: size and mtime), and
-- the rows that cannot be placed in any partition (no usable time, or a time beyond
-- $max_ts), which are quarantined here with day NULL. Rows outside [$range_start,
-- $range_end) are counted as out of range. Nothing else is read from the files here.
-- `placed_rows` is scanned once for the counts and once for the unplaceable rows (whose raw
-- JSON is built for them only): cheaper than holding every row of the logs in a temp table.
CREATE OR REPLACE TEMP MACRO placed_rows(max_ts) AS TABLE
SELECT 'requests' AS source_table, _file, _day, ts AS _t, _cast_errors, _row, CASE WHEN _day IS NULL OR ts > max_ts THEN _raw END AS _raw FROM placed_requests
UNION ALL
SELECT 'impressions', _file, _day, coalesce(ts, CAST(_day AS TIMESTAMP)), _cast_errors, _row, CASE WHEN _day IS NULL OR ts > max_ts THEN _raw END FROM placed_impressions
UNION ALL
SELECT 'events', _file, _day, ts, _cast_errors, _row, CASE WHEN _day IS NULL OR ts > max_ts THEN _raw END FROM placed_events
UNION ALL
SELECT 'candidates', _file, _day, CAST(_day AS TIMESTAMP), _cast_errors, _row, CASE WHEN _day IS NULL THEN _raw END FROM placed_candidates;

DELETE FROM raw_logs;

INSERT INTO raw_logs
SELECT p.source_table, p.file, p.day, p.rows, v.version
FROM (
    SELECT
        source_table,
        _file AS file,
        CASE WHEN _day IS NULL OR _t > $max_ts THEN NULL ELSE _day END AS day,
        count(*) AS rows
    FROM placed_rows($max_ts)
    GROUP BY ALL
) p
LEFT JOIN file_versions v ON v.file = p.file;

DELETE FROM quarantine WHERE day IS NULL AND source_table IN ('requests', 'impressions', 'events', 'candidates');

INSERT INTO quarantine
SELECT
    NULL,
    source_table,
    CASE
        WHEN _t > $max_ts THEN 'ts_in_future'
        WHEN _cast_errors IS NOT NULL THEN 'unparseable:' || _cast_errors
        WHEN source_table IN ('impressions', 'candidates') THEN 'unknown_request'
        ELSE 'missing_required:ts'
    END,
    _file,
    _row,
    _raw
FROM placed_rows($max_ts)
WHERE _day IS NULL OR _t > $max_ts;

DELETE FROM row_accounting WHERE day IS NULL AND source_table IN ('requests', 'impressions', 'events', 'candidates');

-- a day outside the range that a wider build accounted for keeps its partition's accounting:
-- counted again here, its rows would be counted twice
INSERT INTO row_accounting
SELECT
    NULL,
    r.source_table,
    CASE WHEN r.day IS NULL THEN 'quarantined' ELSE 'out_of_range' END AS outcome,
    sum(r.rows),
    NULL
FROM raw_logs r
WHERE r.day IS NULL
   OR ((r.day < $range_start OR r.day >= $range_end)
       AND NOT EXISTS (SELECT 1 FROM row_accounting a WHERE a.source_table = r.source_table AND a.day = r.day))
GROUP BY ALL;

DROP MACRO TABLE placed_rows;
