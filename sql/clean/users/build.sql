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
SELECT *, copy_reason(_reason, _copy, _content, _first_content, 'conflicting_duplicate:user_id') AS reason,
       copy_state(_reason, _copy, _content, _first_content) AS _state
FROM ranked;

DELETE FROM users;

INSERT INTO users
SELECT user_id, segment, region, created_at, coalesce(age_verified, false)
FROM clean_stage WHERE _state = 'clean';

-- for clean/row_accounting/build.sql, which runs next: the raw rows and the outcomes
CREATE OR REPLACE TEMP VIEW clean_source AS SELECT _file, _row, _raw FROM src_users;

CREATE OR REPLACE TEMP TABLE clean_outcomes AS SELECT _state AS outcome, count(*) AS rows FROM clean_stage GROUP BY _state;
