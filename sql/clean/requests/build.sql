-- Clean requests for partition $day (the day of ts).
-- Row rules quarantine a row with a reason; exact re-sends of a request_id are duplicates;
-- a request_id re-used with different content is quarantined as a conflict (within a day) or
-- as reused_request_id (more than a day after its first use in the files read). Rows of
-- $day - 1 only serve as dedup context. Non-user traffic (logged, or
-- detected: a user with more than $bot_max_requests requests in the day) is kept, flagged,
-- and counted as filtered: label tables never use it.
CREATE OR REPLACE TEMP TABLE clean_stage AS
WITH checked AS (
    SELECT
        r.* EXCLUDE (_raw),
        CASE
            WHEN r._cast_errors IS NOT NULL THEN 'unparseable:' || r._cast_errors
            WHEN r.request_id IS NULL THEN 'missing_required:request_id'
            WHEN r.traffic IS NOT NULL AND r.traffic NOT IN ('user', 'bot', 'internal', 'test') THEN 'invalid_value:traffic'
            -- impressions and candidates name their request by id alone: an id logged again more
            -- than a day after its first use would take the first request's rows
            WHEN r.ts > rt.request_ts + INTERVAL 1 DAY THEN 'reused_request_id'
        END AS _reason,
        hash(r.ts, r.user_id, r.session_id, r.surface, r.query, r.device, r.region, r.policy, r.is_exploration,
             r.traffic) AS _content
    FROM placed_requests r
    LEFT JOIN src_request_times rt ON rt.request_id = r.request_id
    WHERE r._day BETWEEN $day - 1 AND $day
),
ranked AS (
    SELECT *, row_number() OVER w AS _copy, first_value(_content) OVER w AS _first_content
    FROM checked
    WINDOW w AS (PARTITION BY request_id, _reason IS NULL ORDER BY ts, _file, _row)
),
outcomes AS (
    SELECT
        *,
        CASE
            WHEN _reason IS NOT NULL THEN _reason
            WHEN _copy > 1 AND _content <> _first_content THEN 'conflicting_duplicate:request_id'
        END AS reason,
        CASE
            WHEN _reason IS NOT NULL THEN 'quarantined'
            WHEN _copy > 1 AND _content <> _first_content THEN 'quarantined'
            WHEN _copy > 1 THEN 'duplicate'
            ELSE 'kept'
        END AS _state
    FROM ranked
    WHERE _day = $day
),
kept AS (
    SELECT
        *,
        count(*) FILTER (WHERE _state = 'kept') OVER (PARTITION BY user_id) AS _user_requests
    FROM outcomes
)
SELECT
    k.*,
    CASE
        WHEN coalesce(k.traffic, 'user') = 'user' AND k.user_id IS NOT NULL AND k._user_requests > $bot_max_requests
            THEN 'bot'
        ELSE coalesce(k.traffic, 'user')
    END AS traffic_class,
    CASE
        WHEN coalesce(k.traffic, 'user') = 'user' AND k.user_id IS NOT NULL AND k._user_requests > $bot_max_requests
            THEN 'detected'
        ELSE 'logged'
    END AS traffic_source,
    EXISTS (
        SELECT 1 FROM outages o
        WHERE k.ts >= o.start_ts AND k.ts < o.end_ts
          AND (o.surface IS NULL OR o.surface = coalesce(k.surface, 'search'))
    ) AS in_outage
FROM kept k;

DELETE FROM requests WHERE day = $day;

INSERT INTO requests
SELECT
    $day, request_id, ts, user_id, session_id, coalesce(surface, 'search'), query, device, region, policy,
    coalesce(is_exploration, false), traffic_class, traffic_source, in_outage
FROM clean_stage
WHERE _state = 'kept';

-- for clean/row_accounting/build.sql, which runs next: the raw rows and the outcomes
CREATE OR REPLACE TEMP VIEW clean_source AS SELECT _file, _row, _raw FROM src_requests;

CREATE OR REPLACE TEMP TABLE clean_outcomes AS
SELECT CASE WHEN _state <> 'kept' THEN _state WHEN traffic_class = 'user' THEN 'clean' ELSE 'filtered' END AS outcome,
       count(*) AS rows
FROM clean_stage GROUP BY outcome;
