-- Clean tracking outage windows (unpartitioned). A window must end after it starts.
CREATE OR REPLACE TEMP TABLE clean_stage AS
WITH checked AS (
    SELECT
        * EXCLUDE (_raw),
        CASE
            WHEN _cast_errors IS NOT NULL THEN 'unparseable:' || _cast_errors
            WHEN start_ts IS NULL THEN 'missing_required:start_ts'
            WHEN end_ts IS NULL THEN 'missing_required:end_ts'
            WHEN end_ts <= start_ts THEN 'invalid_value:end_ts'
        END AS reason,
        row_number() OVER (PARTITION BY start_ts, end_ts, surface, event_types ORDER BY _file, _row) AS _copy
    FROM src_outages
)
SELECT
    *,
    CASE WHEN reason IS NOT NULL THEN 'quarantined' WHEN _copy > 1 THEN 'duplicate' ELSE 'clean' END AS _state,
FROM checked;

DELETE FROM outages;

INSERT INTO outages
SELECT start_ts, end_ts, surface, event_types FROM clean_stage WHERE _state = 'clean';

-- for clean/row_accounting/build.sql, which runs next: the raw rows and the outcomes
CREATE OR REPLACE TEMP VIEW clean_source AS SELECT _file, _row, _raw FROM src_outages;

CREATE OR REPLACE TEMP TABLE clean_outcomes AS SELECT _state AS outcome, count(*) AS rows FROM clean_stage GROUP BY _state;
