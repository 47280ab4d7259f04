-- Return labels for the user-traffic purchases of $day. Positive (a post-conversion
-- negative): a return of the item by the same user, or attributed to the same request,
-- within (purchase_ts, purchase_ts + $return_window_days]. Without one: censored when an
-- outage of return events overlaps the window or the window ends after $label_cutoff;
-- otherwise 0 (purchase_kept).
CREATE OR REPLACE TEMP TABLE lbl_return AS
WITH base AS (
    SELECT e.day, e.event_id, e.request_id, e.item_id, e.user_id, e.ts AS purchase_ts,
           e.ts + INTERVAL '1' DAY * CAST($return_window_days AS INTEGER) AS window_end
    FROM events e
    WHERE e.day = $day AND e.type = 'purchase' AND coalesce(e.traffic, 'user') = 'user'
),
returns AS (
    SELECT b.event_id, min(e.ts) AS return_ts
    FROM base b
    JOIN events e
      ON e.item_id = b.item_id
     AND ((b.user_id IS NOT NULL AND e.user_id = b.user_id) OR (b.request_id IS NOT NULL AND e.request_id = b.request_id))
     AND e.ts > b.purchase_ts AND e.ts <= b.window_end
    WHERE e.type = 'return' AND e.day BETWEEN $day AND $day + $return_window_days + 1
    GROUP BY b.event_id
)
SELECT
    b.*,
    r.return_ts,
    CASE
        WHEN r.return_ts IS NOT NULL THEN NULL
        WHEN EXISTS (
            SELECT 1 FROM outages o
            WHERE o.start_ts <= b.window_end AND o.end_ts > b.purchase_ts
              AND (o.event_types IS NULL
                   OR csv_contains(o.event_types, 'return'))
        ) THEN 'tracking_outage'
        WHEN b.window_end > $label_cutoff THEN 'window_open'
    END AS censor_reason
FROM base b
LEFT JOIN returns r USING (event_id);

DELETE FROM return_labels WHERE day = $day;

INSERT INTO return_labels
SELECT day, event_id, request_id, item_id, user_id, purchase_ts, window_end,
       CASE WHEN return_ts IS NOT NULL THEN 1 WHEN censor_reason IS NULL THEN 0 END,
       CASE WHEN censor_reason IS NULL THEN 1.0 ELSE 0.0 END,
       CASE WHEN return_ts IS NULL AND censor_reason IS NULL THEN 'purchase_kept' END,
       censor_reason, return_ts, $label_cutoff
FROM lbl_return;

DELETE FROM label_exclusions WHERE day = $day AND task = 'return';

INSERT INTO label_exclusions
SELECT $day, 'return', 'censored_' || censor_reason, count(*) FROM lbl_return WHERE censor_reason IS NOT NULL GROUP BY 3;

-- The temporary tables above live in memory and spill to the temp directory at scale: freed
-- with this write, so that the next write does not stack its own on top of them.
DROP TABLE lbl_return;
