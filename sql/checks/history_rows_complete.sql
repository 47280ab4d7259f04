-- Per partition of history_rows ($day NULL = every partition): the rows it holds against the
-- user-traffic impressions and click/purchase events of that day it must hold one row each.
-- An impression whose request is missing (the requests of the days around not built yet) would
-- be silently absent from every later day's history: a difference fails the check.
WITH expected AS (
    SELECT day, count(*) AS exposures, 0 AS events FROM impressions
    WHERE traffic = 'user' AND ($day IS NULL OR day = $day) GROUP BY day
    UNION ALL
    SELECT day, 0, count(*) FROM events
    WHERE coalesce(traffic, 'user') = 'user' AND type IN ('click', 'purchase') AND ($day IS NULL OR day = $day)
    GROUP BY day
),
held AS (
    SELECT day, count(*) FILTER (WHERE kind = 'exposure') AS exposures, count(*) FILTER (WHERE kind <> 'exposure') AS events
    FROM history_rows WHERE $day IS NULL OR day = $day GROUP BY day
)
SELECT
    e.day, sum(e.exposures) AS expected_exposures, sum(e.events) AS expected_events,
    coalesce(max(h.exposures), 0) AS exposures, coalesce(max(h.events), 0) AS events
FROM expected e
LEFT JOIN held h ON h.day = e.day
GROUP BY e.day
ORDER BY e.day;
