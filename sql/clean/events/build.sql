-- Clean events for partition $day (the day of the logged ts). Rows of $day - 1 are
-- context for dedup only (retries are re-sent within seconds; the horizon is one day).
-- Events are attributed to their logged request (any request of the last
-- $attribution_days days; of two requests logged with one id, the latest before the event). Clock skew: an attributed event logged up to
-- $skew_tolerance_s seconds before its request is moved to the request's ts (logged_ts
-- keeps the original); further before is quarantined. Events of non-user traffic are
-- kept with their traffic class and counted as filtered.
CREATE OR REPLACE TEMP TABLE clean_stage AS
WITH checked AS (
    SELECT
        * EXCLUDE (_raw),
        CASE
            WHEN _cast_errors IS NOT NULL THEN 'unparseable:' || _cast_errors
            WHEN event_id IS NULL THEN 'missing_required:event_id'
            WHEN type IS NULL THEN 'missing_required:type'
            WHEN item_id IS NULL THEN 'missing_required:item_id'
            WHEN type NOT IN ('click', 'add_to_cart', 'purchase', 'hide', 'report', 'return') THEN 'invalid_value:type'
        END AS _reason,
        hash(type, item_id, user_id, request_id, value) AS _content
    FROM placed_events
    WHERE _day BETWEEN $day - 1 AND $day
),
deduped AS (
    SELECT *, row_number() OVER w AS _copy, first_value(_content) OVER w AS _first_content
    FROM checked
    WINDOW w AS (PARTITION BY event_id, _reason IS NULL ORDER BY ts, coalesce(recorded_at, ts), _file, _row)
),
attributed AS (
    SELECT d.*, q.ts AS request_ts, q.traffic AS request_traffic
    FROM deduped d
    LEFT JOIN requests q
        ON q.request_id = d.request_id AND q.day BETWEEN $day - $attribution_days AND $day + 1
    WHERE d._day = $day
    -- a request_id logged again days later names two requests: the event belongs to the
    -- latest one it does not precede (beyond the skew tolerance), else the earliest; one row each
    QUALIFY row_number() OVER (
        PARTITION BY d._file, d._row
        ORDER BY (q.ts <= d.ts + INTERVAL '1' SECOND * $skew_tolerance_s) DESC NULLS LAST,
                 CASE WHEN q.ts <= d.ts + INTERVAL '1' SECOND * $skew_tolerance_s THEN q.ts END DESC, q.ts
    ) = 1
),
staged AS (
    SELECT
        *,
        CASE
            WHEN _reason IS NOT NULL THEN _reason
            WHEN _copy > 1 AND _content <> _first_content THEN 'conflicting_duplicate:event_id'
            WHEN _copy = 1 AND ts < request_ts - INTERVAL '1' SECOND * $skew_tolerance_s THEN 'event_precedes_request'
        END AS reason
    FROM attributed
)
SELECT
    *,
    CASE
        WHEN reason IS NOT NULL THEN 'quarantined'
        WHEN _copy > 1 THEN 'duplicate'
        WHEN coalesce(request_traffic, 'user') = 'user' THEN 'clean'
        ELSE 'filtered'
    END AS _state,
    greatest(ts, coalesce(request_ts, ts)) AS ts_corrected,
FROM staged;

DELETE FROM events WHERE day = $day;

INSERT INTO events
SELECT $day, event_id, ts_corrected, ts, type, item_id, user_id, request_id, request_ts, value,
       coalesce(recorded_at, ts), request_traffic
FROM clean_stage
WHERE _state IN ('clean', 'filtered');

-- for clean/row_accounting/build.sql, which runs next: the raw rows and the outcomes
CREATE OR REPLACE TEMP VIEW clean_source AS SELECT _file, _row, _raw FROM src_events;

CREATE OR REPLACE TEMP TABLE clean_outcomes AS SELECT _state AS outcome, count(*) AS rows FROM clean_stage GROUP BY _state;
