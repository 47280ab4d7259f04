-- How the hand-off of the days [$first_day, $last_day] is split ($source as in ranker_rows.sql):
-- request ids in id order, cut into ranges of about $range_rows rows each (the negatives of a
-- request stand for its rows; its positives are few); one row per range after the first, its
-- lower bound. No row: the hand-off is one range.
WITH requests AS (
    SELECT request_id, count(*) AS n FROM ranking_negatives
    WHERE $source = 'negatives' AND day BETWEEN $first_day AND $last_day
    GROUP BY request_id
    UNION ALL
    SELECT request_id, count(*) FROM ctr_labels
    WHERE $source = 'all_shown' AND day BETWEEN $first_day AND $last_day
    GROUP BY request_id
),
placed AS (
    SELECT request_id, sum(n) OVER (ORDER BY request_id ROWS UNBOUNDED PRECEDING) - n AS rows_before FROM requests
)
SELECT min(request_id) AS bound
FROM placed
GROUP BY floor(rows_before / $range_rows)
HAVING floor(rows_before / $range_rows) > 0
ORDER BY bound;
