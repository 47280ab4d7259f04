-- Figures of one clean requests partition.
SELECT
    count(*) FILTER (WHERE traffic = 'user') AS "requests/user",
    count(*) FILTER (WHERE traffic = 'bot') AS "requests/bot",
    count(*) FILTER (WHERE traffic = 'internal') AS "requests/internal",
    count(*) FILTER (WHERE traffic = 'test') AS "requests/test",
    count(*) FILTER (WHERE traffic_source = 'detected') AS "requests/detected_bot",
    count(DISTINCT user_id) FILTER (WHERE traffic_source = 'detected') AS "users/detected_bot",
    count(*) FILTER (WHERE user_id IS NULL) AS "requests/anonymous",
    count(*) FILTER (WHERE is_exploration) AS "requests/exploration",
    count(*) FILTER (WHERE in_outage) AS "requests/in_outage"
FROM requests
WHERE day = $day;
