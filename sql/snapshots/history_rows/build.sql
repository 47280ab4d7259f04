-- The history rows of partition $day, one per user-traffic click or purchase event of the day
-- and one per user-traffic impression of the day (its exposure), with what every history
-- feature of impression_context keys them by. Written once per day, so that a day's snapshot
-- reads narrow rows instead of joining the window's impressions and events again.
-- avail: an event counts for a request at T only if it happened and was recorded before T
-- (greatest(ts, recorded_at) < T); an exposure counts from its request's time.
-- exposure: an impression's examination weight under a fixed prior, 1/position, and 0 when
-- it was never scrolled into view (visible_ms = 0): clicks over exposure is an item CTR that
-- does not penalize items the logging ranker kept low. A prior, not an estimate, so the
-- feature uses nothing learned from later data. DECIMAL, so that sums (and differences of
-- sums) are exact and a re-run gives the same bits whatever order the rows are summed in.
DELETE FROM history_rows WHERE day = $day;

INSERT INTO history_rows
SELECT
    e.day, greatest(e.ts, e.recorded_at), CAST(greatest(e.ts, e.recorded_at) AS DATE), e.type,
    e.user_id, e.item_id, s.category, lower(trim(q.query)), CAST(0 AS DECIMAL(18, 12))
FROM events e
LEFT JOIN item_state s ON s.item_id = e.item_id AND s.valid_from <= e.ts AND e.ts < s.valid_to
LEFT JOIN requests q ON q.request_id = e.request_id AND q.day = CAST(e.request_ts AS DATE)
WHERE e.day = $day AND coalesce(e.traffic, 'user') = 'user' AND e.type IN ('click', 'purchase');

INSERT INTO history_rows
SELECT
    i.day, q.ts, CAST(q.ts AS DATE), 'exposure', q.user_id, i.item_id, s.category, lower(trim(q.query)),
    CAST(CASE WHEN i.visible_ms = 0 THEN 0.0 ELSE 1.0 / i.position END AS DECIMAL(18, 12))
FROM impressions i
JOIN requests q ON q.request_id = i.request_id AND q.day BETWEEN $day - 2 AND $day + 2
LEFT JOIN item_state s ON s.item_id = i.item_id AND s.valid_from <= q.ts AND q.ts < s.valid_to
WHERE i.day = $day AND i.traffic = 'user';
