-- Figures of one clean candidates partition.
SELECT
    count(*) FILTER (WHERE shown) AS "candidates/shown",
    count(*) FILTER (WHERE NOT shown) AS "candidates/not_shown"
FROM candidates
WHERE day = $day;
