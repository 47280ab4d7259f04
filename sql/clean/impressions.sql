-- Clean impressions for partition $day (placed by their ts, else their request's ts).
-- Rows placed on $day - 1 and $day + 1 are read as context for dedup and slate rules only.
-- Order of rules: row rules, then request lookup, then dedup by event_id (exact re-sends
-- are duplicates, a re-used event_id with other content is a conflict), then slate rules
-- (one item per position, one position per item: the earliest / highest row wins).
-- The ordering rules only matter where a key repeats: such groups are found with hash
-- aggregates and only their rows are ranked; every other row is its key's first copy.
CREATE OR REPLACE TEMP TABLE stage_impressions AS
WITH day_rows AS (
    SELECT request_id, event_id FROM placed_impressions WHERE _day = $day
),
checked AS MATERIALIZED (
    SELECT
        i.* EXCLUDE (_raw),
        coalesce(i.event_id, i.request_id || '|' || i.item_id || '|' || CAST(i.position AS VARCHAR)) AS _event_id,
        q.ts AS request_ts,
        q.traffic AS request_traffic,
        CASE
            WHEN i._cast_errors IS NOT NULL THEN 'unparseable:' || i._cast_errors
            WHEN i.request_id IS NULL THEN 'missing_required:request_id'
            WHEN i.item_id IS NULL THEN 'missing_required:item_id'
            WHEN i.position IS NULL THEN 'missing_required:position'
            WHEN i.position < 1 THEN 'invalid_value:position'
            WHEN i.visible_ms < 0 THEN 'invalid_value:visible_ms'
            WHEN i.propensity <= 0 OR i.propensity > 1 THEN 'invalid_value:propensity'
            WHEN q.request_id IS NULL THEN 'unknown_request'
            WHEN coalesce(i.ts, q.ts) < q.ts - to_seconds($skew_tolerance_s) THEN 'impression_precedes_request'
            WHEN coalesce(i.ts, q.ts) > q.ts + INTERVAL 1 HOUR THEN 'impression_long_after_request'
        END AS _reason,
        hash(i.request_id, i.item_id, i.position, i.visible_ms, i.propensity, i.source) AS _content
    FROM placed_impressions i
    LEFT JOIN requests q ON q.request_id = i.request_id AND q.day BETWEEN $day - 2 AND $day + 2
    WHERE i._day BETWEEN $day - 1 AND $day + 1
      -- context rows matter only when they share a request or an event_id with the day's rows
      AND (i._day = $day
           OR i.request_id IN (SELECT request_id FROM day_rows)
           OR i.event_id IN (SELECT event_id FROM day_rows WHERE event_id IS NOT NULL))
),
repeated_events AS (
    SELECT _event_id FROM checked WHERE _reason IS NULL GROUP BY _event_id HAVING count(*) > 1
),
event_copies AS (
    SELECT
        c._file, c._row,
        row_number() OVER w AS _copy,
        first_value(c._content) OVER w AS _first_content
    FROM checked c SEMI JOIN repeated_events r ON r._event_id = c._event_id
    WHERE c._reason IS NULL
    WINDOW w AS (PARTITION BY c._event_id ORDER BY coalesce(c.ts, c.request_ts), c._file, c._row)
),
staged AS MATERIALIZED (
    SELECT
        c.*,
        CASE
            WHEN c._reason IS NOT NULL THEN c._reason
            WHEN e._copy > 1 AND c._content <> e._first_content THEN 'conflicting_duplicate:event_id'
        END AS _reason2,
        c._reason IS NULL AND coalesce(e._copy, 1) = 1 AS _survives
    FROM checked c
    LEFT JOIN event_copies e ON e._file = c._file AND e._row = c._row
),
repeated_positions AS (
    SELECT request_id, position FROM staged WHERE _survives GROUP BY ALL HAVING count(*) > 1
),
repeated_items AS (
    SELECT request_id, item_id FROM staged WHERE _survives GROUP BY ALL HAVING count(*) > 1
),
position_copies AS (
    SELECT s._file, s._row,
           row_number() OVER (PARTITION BY s.request_id, s.position ORDER BY coalesce(s.ts, s.request_ts), s._file, s._row) AS _pos_copy
    FROM staged s SEMI JOIN repeated_positions r ON r.request_id = s.request_id AND r.position = s.position
    WHERE s._survives
),
item_copies AS (
    SELECT s._file, s._row,
           row_number() OVER (PARTITION BY s.request_id, s.item_id ORDER BY s.position, coalesce(s.ts, s.request_ts), s._file, s._row) AS _item_copy
    FROM staged s SEMI JOIN repeated_items r ON r.request_id = s.request_id AND r.item_id = s.item_id
    WHERE s._survives
),
slate AS (
    SELECT s.*, coalesce(p._pos_copy, 1) AS _pos_copy, coalesce(i._item_copy, 1) AS _item_copy
    FROM staged s
    LEFT JOIN position_copies p ON p._file = s._file AND p._row = s._row
    LEFT JOIN item_copies i ON i._file = s._file AND i._row = s._row
    WHERE s._day = $day
)
SELECT
    -- only what the writes below read: the staging rows spill to disk at scale
    request_id, item_id, position, ts, request_ts, visible_ms, propensity, source, _event_id, request_traffic,
    _file, _row,
    CASE
        WHEN _reason2 IS NOT NULL THEN _reason2
        WHEN _survives AND _pos_copy > 1 THEN 'position_conflict'
        WHEN _survives AND _item_copy > 1 THEN 'item_repeated_in_slate'
    END AS reason,
    CASE
        WHEN _reason2 IS NOT NULL THEN 'quarantined'
        WHEN NOT _survives THEN 'duplicate'
        WHEN _pos_copy > 1 OR _item_copy > 1 THEN 'quarantined'
        WHEN request_traffic = 'user' THEN 'clean'
        ELSE 'filtered'
    END AS _state,
FROM slate;

DELETE FROM impressions WHERE day = $day;

INSERT INTO impressions
SELECT $day, request_id, item_id, CAST(position AS INTEGER), coalesce(ts, request_ts), visible_ms, propensity, source,
       _event_id, request_traffic
FROM stage_impressions
WHERE _state IN ('clean', 'filtered');

DELETE FROM quarantine WHERE day = $day AND source_table = 'impressions';

INSERT INTO quarantine
SELECT $day, 'impressions', s.reason, s._file, s._row, r._raw
FROM stage_impressions s
JOIN src_impressions r ON r._file = s._file AND r._row = s._row  -- raw JSON built for rejected rows only
WHERE s._state = 'quarantined';

DELETE FROM row_accounting WHERE day = $day AND source_table = 'impressions';

INSERT INTO row_accounting
SELECT $day, 'impressions', _state, count(*)
FROM stage_impressions
GROUP BY _state;

-- The temporary tables above live in memory and spill to the temp directory at scale: freed
-- with this write, so that the next write does not stack its own on top of them.
DROP TABLE stage_impressions;
