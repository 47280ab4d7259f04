-- Clean users (unpartitioned). One row per user_id: exact copies are duplicates; differing
-- rows for one user_id keep the earliest created (then file order) and quarantine the rest.
CREATE OR REPLACE TEMP TABLE clean_stage AS
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
FROM clean_stage WHERE _state = 'clean';

-- for clean/accounting, which runs next
CREATE OR REPLACE TEMP VIEW clean_rejected AS
SELECT s.reason, s._file, s._row, r._raw
FROM clean_stage s JOIN src_users r ON r._file = s._file AND r._row = s._row
WHERE s._state = 'quarantined';

CREATE OR REPLACE TEMP TABLE clean_outcomes AS
SELECT outcome, count(*) AS rows FROM (
    SELECT _state AS outcome FROM clean_stage
) GROUP BY outcome;
