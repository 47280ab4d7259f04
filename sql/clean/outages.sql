-- Clean tracking outage windows (unpartitioned). A window must end after it starts.
CREATE OR REPLACE TEMP TABLE stage_outages AS
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
SELECT start_ts, end_ts, surface, event_types FROM stage_outages WHERE _state = 'clean';

DELETE FROM quarantine WHERE day IS NULL AND source_table = 'outages';

INSERT INTO quarantine
SELECT NULL, 'outages', s.reason, s._file, s._row, r._raw
FROM stage_outages s
JOIN src_outages r ON r._file = s._file AND r._row = s._row
WHERE s._state = 'quarantined';

DELETE FROM row_accounting WHERE day IS NULL AND source_table = 'outages';

INSERT INTO row_accounting
SELECT NULL, 'outages', _state, count(*) FROM stage_outages GROUP BY _state;

-- The temporary tables above live in memory and spill to the temp directory at scale: freed
-- with this write, so that the next write does not stack its own on top of them.
DROP TABLE stage_outages;
