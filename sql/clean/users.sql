-- Clean users (unpartitioned). One row per user_id: exact copies are duplicates; differing
-- rows for one user_id keep the earliest created (then file order) and quarantine the rest.
CREATE OR REPLACE TEMP TABLE stage_users AS
WITH checked AS (
    SELECT
        * EXCLUDE (_raw),
        CASE
            WHEN _cast_errors IS NOT NULL THEN 'unparseable:' || _cast_errors
            WHEN user_id IS NULL THEN 'missing_required:user_id'
        END AS _reason,
        hash(segment, region, created_at, age_verified) AS _content
    FROM src_users
),
ranked AS (
    SELECT *, row_number() OVER w AS _copy, first_value(_content) OVER w AS _first_content
    FROM checked
    WINDOW w AS (PARTITION BY user_id, _reason IS NULL ORDER BY created_at NULLS LAST, _file, _row)
)
SELECT
    *,
    CASE
        WHEN _reason IS NOT NULL THEN _reason
        WHEN _copy > 1 AND _content <> _first_content THEN 'conflicting_duplicate:user_id'
    END AS reason,
    CASE
        WHEN _reason IS NOT NULL OR (_copy > 1 AND _content <> _first_content) THEN 'quarantined'
        WHEN _copy > 1 THEN 'duplicate'
        ELSE 'clean'
    END AS _state,
FROM ranked;

DELETE FROM users;

INSERT INTO users
SELECT user_id, segment, region, created_at, coalesce(age_verified, false)
FROM stage_users WHERE _state = 'clean';

DELETE FROM quarantine WHERE day IS NULL AND source_table = 'users';

INSERT INTO quarantine
SELECT NULL, 'users', s.reason, s._file, s._row, r._raw
FROM stage_users s
JOIN src_users r ON r._file = s._file AND r._row = s._row
WHERE s._state = 'quarantined';

DELETE FROM row_accounting WHERE day IS NULL AND source_table = 'users';

INSERT INTO row_accounting
SELECT NULL, 'users', _state, count(*) FROM stage_users GROUP BY _state;

-- The temporary tables above live in memory and spill to the temp directory at scale: freed
-- with this write, so that the next write does not stack its own on top of them.
DROP TABLE stage_users;
