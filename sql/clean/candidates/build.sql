-- Clean candidates (generated, shown or not) for partition $day, the day of their request.
-- `shown` tells whether the candidate became an impression of the same request.
--
-- Same shape as clean/impressions: `checked_candidates` reads the rows with their row-rule
-- verdict and is scanned again by each statement (never materialized with its columns);
-- `clean_stage` holds only the rows that do not become candidates. Only keys shared by
-- more than one valid row are ranked, found with a hash aggregate over 64-bit key hashes
-- (a collision adds rows to the ranking, never changes its result).
CREATE OR REPLACE TEMP MACRO checked_candidates(p_day) AS TABLE
SELECT
    c.request_id, c.item_id, c.source, c.retrieval_rank, c.retrieval_score, c._file, c._row,
    CASE
        WHEN c._cast_errors IS NOT NULL THEN 'unparseable:' || c._cast_errors
        WHEN c.request_id IS NULL THEN 'missing_required:request_id'
        WHEN c.item_id IS NULL THEN 'missing_required:item_id'
        WHEN c.retrieval_rank NOT BETWEEN -2147483648 AND 2147483647 THEN 'invalid_value:retrieval_rank'
        WHEN q.request_id IS NULL THEN 'unknown_request'
    END AS _reason,
    hash(c.source, c.retrieval_rank, c.retrieval_score) AS _content
FROM placed_candidates c
LEFT JOIN requests q ON q.request_id = c.request_id AND q.day = p_day
WHERE c._day = p_day;

CREATE OR REPLACE TEMP TABLE clean_stage AS
WITH keyed AS NOT MATERIALIZED (
    SELECT *, hash(request_id, item_id) AS _key FROM checked_candidates($day)
),
repeats AS MATERIALIZED (
    SELECT _key FROM keyed WHERE _reason IS NULL GROUP BY _key HAVING count(*) > 1
),
-- rejected rows, and every valid row of a repeated key
exceptions AS MATERIALIZED (
    SELECT request_id, item_id, _file, _row, _reason, _content
    FROM keyed
    WHERE _reason IS NOT NULL OR _key IN (SELECT _key FROM repeats)
),
copies AS (
    SELECT *, row_number() OVER w AS _copy, first_value(_content) OVER w AS _first_content
    FROM exceptions
    WHERE _reason IS NULL
    WINDOW w AS (PARTITION BY request_id, item_id ORDER BY _file, _row)
)
SELECT _file, _row, _reason AS reason, 'quarantined' AS _state
FROM exceptions WHERE _reason IS NOT NULL
UNION ALL
SELECT _file, _row, copy_reason(NULL, _copy, _content, _first_content, 'conflicting_duplicate:candidate'),
       copy_state(NULL, _copy, _content, _first_content)
FROM copies WHERE _copy > 1;

DELETE FROM candidates WHERE day = $day;

INSERT INTO candidates
SELECT $day, c.request_id, c.item_id, c.source, CAST(c.retrieval_rank AS INTEGER), c.retrieval_score,
       EXISTS (
           SELECT 1 FROM impressions i
           WHERE i.request_id = c.request_id AND i.item_id = c.item_id AND i.day BETWEEN $day AND $day + 1
       ) AS shown
FROM checked_candidates($day) c
ANTI JOIN clean_stage s ON s._file = c._file AND s._row = c._row
WHERE c._reason IS NULL;

DROP MACRO TABLE checked_candidates;

-- for clean/row_accounting/build.sql, which runs next: the raw rows and the outcomes
CREATE OR REPLACE TEMP VIEW clean_source AS SELECT _file, _row, _raw FROM src_candidates;

-- clean or filtered (by its request's traffic) once written, else quarantined or duplicate as staged
CREATE OR REPLACE TEMP TABLE clean_outcomes AS
SELECT outcome, count(*) AS rows FROM (
    SELECT CASE WHEN q.traffic = 'user' THEN 'clean' ELSE 'filtered' END AS outcome
    FROM candidates c
    JOIN requests q ON q.request_id = c.request_id AND q.day = $day
    WHERE c.day = $day
    UNION ALL
    SELECT _state FROM clean_stage
) GROUP BY outcome;
