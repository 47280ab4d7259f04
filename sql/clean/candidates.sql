-- Clean candidates (generated, shown or not) for partition $day, the day of their request.
-- `shown` tells whether the candidate became an impression of the same request.
CREATE OR REPLACE TEMP TABLE stage_candidates AS
WITH checked AS MATERIALIZED (
    SELECT
        c.* EXCLUDE (_raw),
        q.traffic AS request_traffic,
        CASE
            WHEN c._cast_errors IS NOT NULL THEN 'unparseable:' || c._cast_errors
            WHEN c.request_id IS NULL THEN 'missing_required:request_id'
            WHEN c.item_id IS NULL THEN 'missing_required:item_id'
            WHEN q.request_id IS NULL THEN 'unknown_request'
        END AS _reason,
        hash(c.source, c.retrieval_rank, c.retrieval_score) AS _content
    FROM placed_candidates c
    LEFT JOIN requests q ON q.request_id = c.request_id AND q.day = $day
    WHERE c._day = $day
),
-- Only keys that repeat are ranked (found with a hash aggregate); any other row is its
-- key's first copy.
repeated AS (
    SELECT request_id, item_id FROM checked WHERE _reason IS NULL GROUP BY ALL HAVING count(*) > 1
),
copies AS (
    SELECT c._file, c._row, row_number() OVER w AS _copy, first_value(c._content) OVER w AS _first_content
    FROM checked c SEMI JOIN repeated r ON r.request_id = c.request_id AND r.item_id = c.item_id
    WHERE c._reason IS NULL
    WINDOW w AS (PARTITION BY c.request_id, c.item_id ORDER BY c._file, c._row)
),
deduped AS (
    SELECT c.*, coalesce(k._copy, 1) AS _copy, coalesce(k._first_content, c._content) AS _first_content
    FROM checked c
    LEFT JOIN copies k ON k._file = c._file AND k._row = c._row
)
SELECT
    -- only what the writes below read: the staging rows spill to disk at scale
    request_id, item_id, source, retrieval_rank, retrieval_score, _file, _row,
    CASE
        WHEN _reason IS NOT NULL THEN _reason
        WHEN _copy > 1 AND _content <> _first_content THEN 'conflicting_duplicate:candidate'
    END AS reason,
    CASE
        WHEN _reason IS NOT NULL OR (_copy > 1 AND _content <> _first_content) THEN 'quarantined'
        WHEN _copy > 1 THEN 'duplicate'
        WHEN request_traffic = 'user' THEN 'clean'
        ELSE 'filtered'
    END AS _state,
    EXISTS (
        SELECT 1 FROM impressions i
        WHERE i.request_id = d.request_id AND i.item_id = d.item_id AND i.day BETWEEN $day AND $day + 1
    ) AS shown,
FROM deduped d;

DELETE FROM candidates WHERE day = $day;

INSERT INTO candidates
SELECT $day, request_id, item_id, source, CAST(retrieval_rank AS INTEGER), retrieval_score, shown
FROM stage_candidates
WHERE _state IN ('clean', 'filtered');

DELETE FROM quarantine WHERE day = $day AND source_table = 'candidates';

INSERT INTO quarantine
SELECT $day, 'candidates', s.reason, s._file, s._row, r._raw
FROM stage_candidates s
JOIN src_candidates r ON r._file = s._file AND r._row = s._row  -- raw JSON built for rejected rows only
WHERE s._state = 'quarantined';

DELETE FROM row_accounting WHERE day = $day AND source_table = 'candidates';

INSERT INTO row_accounting
SELECT $day, 'candidates', _state, count(*)
FROM stage_candidates
GROUP BY _state;

-- The temporary tables above live in memory and spill to the temp directory at scale: freed
-- with this write, so that the next write does not stack its own on top of them.
DROP TABLE stage_candidates;
