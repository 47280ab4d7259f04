-- Figures of one clean events partition.
SELECT
    count(*) FILTER (WHERE type = 'click') AS "events/click",
    count(*) FILTER (WHERE type = 'purchase') AS "events/purchase",
    count(*) FILTER (WHERE type = 'hide') AS "events/hide",
    count(*) FILTER (WHERE type = 'return') AS "events/return",
    count(*) FILTER (WHERE ts <> logged_ts) AS "events/skew_corrected",
    count(*) FILTER (WHERE request_id IS NOT NULL AND request_ts IS NULL) AS "events/unresolved_attribution",
    count(*) FILTER (WHERE request_id IS NULL) AS "events/unattributed",
    count(*) FILTER (WHERE recorded_at > logged_ts + INTERVAL 1 HOUR) AS "events/late_recorded"
FROM events
WHERE day = $day;
