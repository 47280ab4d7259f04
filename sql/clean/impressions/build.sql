-- Clean impressions for partition $day (placed by their ts, else their request's ts).
-- Rows placed on $day - 1 and $day + 1 are read as context for dedup and slate rules only.
-- Order of rules: row rules, then request lookup, then dedup by event_id (exact re-sends
-- are duplicates, a re-used event_id with other content is a conflict), then slate rules
-- (one item per position, one position per item: the earliest / highest row wins).
--
-- Shape (the day's rows are never materialized with their columns, so nothing wide spills):
--   1. `checked_impressions` reads the rows with their row-rule verdict; each statement
--      below scans it again (a Parquet scan and a join, cheaper than spilling a copy).
--   2. `clean_stage` holds only the day's rows that do NOT become impressions
--      (quarantined, duplicate) with their reason. The ordering rules only matter where a
--      key repeats: keys shared by more than one valid row are found with one hash
--      aggregate over 64-bit key hashes, and only the rows of such keys are ranked, by the
--      real keys (a hash collision adds rows to the ranking, never changes its result).
--   3. impressions = the day's valid rows minus the staged ones.
CREATE OR REPLACE TEMP MACRO checked_impressions(p_day, p_skew_s) AS TABLE
WITH day_requests AS (
    SELECT DISTINCT request_id FROM placed_impressions WHERE _day = p_day
),
day_events AS (
    SELECT event_id FROM placed_impressions WHERE _day = p_day AND event_id IS NOT NULL
),
window_rows AS (
    SELECT * FROM placed_impressions WHERE _day = p_day
    UNION ALL
    -- context rows matter only when they share a request or an event_id with the day's rows
    SELECT * FROM placed_impressions
    WHERE _day IN (p_day - 1, p_day + 1)
      AND (request_id IN (SELECT request_id FROM day_requests) OR event_id IN (SELECT event_id FROM day_events))
)
SELECT
    i.request_id, i.item_id, i.position, i.ts, i.visible_ms, i.propensity, i.source, i._file, i._row, i._day,
    coalesce(i.event_id, i.request_id || '|' || i.item_id || '|' || CAST(i.position AS VARCHAR)) AS _event_id,
    coalesce(i.ts, q.ts) AS shown_ts,
    q.traffic AS request_traffic,
    CASE
        WHEN i._cast_errors IS NOT NULL THEN 'unparseable:' || i._cast_errors
        WHEN i.request_id IS NULL THEN 'missing_required:request_id'
        WHEN i.item_id IS NULL THEN 'missing_required:item_id'
        WHEN i.position IS NULL THEN 'missing_required:position'
        WHEN i.position < 1 OR i.position > 2147483647 THEN 'invalid_value:position'
        WHEN i.visible_ms < 0 THEN 'invalid_value:visible_ms'
        WHEN i.propensity <= 0 OR i.propensity > 1 THEN 'invalid_value:propensity'
        WHEN q.request_id IS NULL THEN 'unknown_request'
        WHEN coalesce(i.ts, q.ts) < q.ts - INTERVAL '1' SECOND * p_skew_s THEN 'impression_precedes_request'
        WHEN coalesce(i.ts, q.ts) > q.ts + INTERVAL 1 HOUR THEN 'impression_long_after_request'
    END AS _reason,
    hash(i.request_id, i.item_id, i.position, i.visible_ms, i.propensity, i.source) AS _content
FROM window_rows i
LEFT JOIN requests q ON q.request_id = i.request_id AND q.day BETWEEN p_day - 2 AND p_day + 2;

CREATE OR REPLACE TEMP TABLE clean_stage AS
WITH keyed AS NOT MATERIALIZED (
    SELECT *,
           hash(_event_id) AS _event_key, hash(request_id, position) AS _position_key, hash(request_id, item_id) AS _item_key
    FROM checked_impressions($day, $skew_tolerance_s)
),
repeats AS MATERIALIZED (
    SELECT _event_key, _position_key, _item_key
    FROM keyed
    WHERE _reason IS NULL
    GROUP BY GROUPING SETS ((_event_key), (_position_key), (_item_key))
    HAVING count(*) > 1
),
-- the day's rejected rows, and every valid row of a repeated key (context rows included)
exceptions AS MATERIALIZED (
    SELECT request_id, item_id, position, shown_ts, _file, _row, _day, _event_id, _content, _reason
    FROM keyed
    WHERE (_reason IS NOT NULL AND _day = $day)
       OR (_reason IS NULL AND (
              _event_key IN (SELECT _event_key FROM repeats WHERE _event_key IS NOT NULL)
           OR _position_key IN (SELECT _position_key FROM repeats WHERE _position_key IS NOT NULL)
           OR _item_key IN (SELECT _item_key FROM repeats WHERE _item_key IS NOT NULL)))
),
event_copies AS (
    SELECT *, row_number() OVER w AS _copy, first_value(_content) OVER w AS _first_content
    FROM exceptions
    WHERE _reason IS NULL
    WINDOW w AS (PARTITION BY _event_id ORDER BY shown_ts, _file, _row)
),
-- slate rules among the rows that survive dedup (first copy of their event_id)
slate_copies AS (
    SELECT _file, _row, _day,
           row_number() OVER (PARTITION BY request_id, position ORDER BY shown_ts, _file, _row) AS _pos_copy,
           row_number() OVER (PARTITION BY request_id, item_id ORDER BY position, shown_ts, _file, _row) AS _item_copy
    FROM event_copies
    WHERE _copy = 1
)
SELECT _file, _row, _reason AS reason, 'quarantined' AS _state
FROM exceptions WHERE _reason IS NOT NULL
UNION ALL
SELECT _file, _row, copy_reason(NULL, _copy, _content, _first_content, 'conflicting_duplicate:event_id'),
       copy_state(NULL, _copy, _content, _first_content)
FROM event_copies WHERE _copy > 1 AND _day = $day
UNION ALL
SELECT _file, _row, CASE WHEN _pos_copy > 1 THEN 'position_conflict' ELSE 'item_repeated_in_slate' END, 'quarantined'
FROM slate_copies WHERE (_pos_copy > 1 OR _item_copy > 1) AND _day = $day;

DELETE FROM impressions WHERE day = $day;

INSERT INTO impressions
SELECT $day, c.request_id, c.item_id, CAST(c.position AS INTEGER), c.shown_ts, c.visible_ms, c.propensity, c.source,
       c._event_id, c.request_traffic
FROM checked_impressions($day, $skew_tolerance_s) c
ANTI JOIN clean_stage s ON s._file = c._file AND s._row = c._row
WHERE c._day = $day AND c._reason IS NULL;

DROP MACRO TABLE checked_impressions;

-- for clean/row_accounting/build.sql, which runs next: the raw rows and the outcomes
CREATE OR REPLACE TEMP VIEW clean_source AS SELECT _file, _row, _raw FROM src_impressions;

-- clean or filtered (by its request's traffic) once written, else quarantined or duplicate as staged
CREATE OR REPLACE TEMP TABLE clean_outcomes AS
SELECT outcome, count(*) AS rows FROM (
    SELECT CASE WHEN traffic = 'user' THEN 'clean' ELSE 'filtered' END AS outcome FROM impressions WHERE day = $day
    UNION ALL
    SELECT _state FROM clean_stage
) GROUP BY outcome;
