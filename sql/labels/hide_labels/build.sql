-- Hide labels for the impressions of $day. Base: the CTR base minus impressions that were
-- never visible (a hide needs a seen item). Positive: a hide event in the click window,
-- attributed or credited like clicks (ctr_labels.sql). Censored when an outage of hide
-- events overlaps the window. Reports are a safety signal, recorded as a flag only.
CREATE OR REPLACE TEMP TABLE lbl_hide AS
WITH base AS (
    SELECT l.day, l.request_id, l.item_id, l.user_id, l.position, l.request_ts, l.negative_type, c.surface,
           l.request_ts + INTERVAL '1' MINUTE * CAST($click_window_minutes AS INTEGER) AS window_end
    FROM ctr_labels l
    JOIN impression_context c ON c.day = l.day AND c.request_id = l.request_id AND c.item_id = l.item_id
    WHERE l.day = $day AND coalesce(l.negative_type, '') <> 'never_visible'
),
acts AS (
    SELECT b.request_id, b.item_id,
           bool_or(e.type = 'hide') AS hidden,
           bool_or(e.type = 'report') AS reported
    FROM base b
    JOIN events e
      ON e.item_id = b.item_id
     AND (e.request_id = b.request_id OR (e.request_id IS NULL AND b.user_id IS NOT NULL AND e.user_id = b.user_id))
     AND e.ts >= b.request_ts AND e.ts <= b.window_end
    WHERE e.type IN ('hide', 'report') AND e.day BETWEEN $day - 1 AND $day + 1
    GROUP BY b.request_id, b.item_id
)
SELECT
    b.*,
    coalesce(a.hidden, false) AS hidden,
    coalesce(a.reported, false) AS reported,
    CASE
        WHEN coalesce(a.hidden, false) THEN NULL
        WHEN EXISTS (
            SELECT 1 FROM outages o
            WHERE o.start_ts <= b.window_end AND o.end_ts > b.request_ts
              AND (o.surface IS NULL OR o.surface = b.surface)
              AND (o.event_types IS NULL
                   OR csv_contains(o.event_types, 'hide'))
        ) THEN 'tracking_outage'
    END AS censor_reason
FROM base b
LEFT JOIN acts a USING (request_id, item_id);

DELETE FROM hide_labels WHERE day = $day;

INSERT INTO hide_labels
SELECT day, request_id, item_id, user_id, position,
       CASE WHEN hidden THEN 1 WHEN censor_reason IS NULL THEN 0 END,
       CASE WHEN censor_reason IS NULL THEN 1.0 ELSE 0.0 END,
       CASE WHEN NOT hidden AND censor_reason IS NULL THEN 'exposed_no_hide' END,
       censor_reason, reported
FROM lbl_hide;

DELETE FROM label_exclusions WHERE day = $day AND task = 'hide';

INSERT INTO label_exclusions
SELECT $day, 'hide', 'censored_' || censor_reason, count(*) FROM lbl_hide WHERE censor_reason IS NOT NULL GROUP BY 3
UNION ALL
SELECT $day, 'hide', 'never_visible', count(*) FROM ctr_labels WHERE day = $day AND negative_type = 'never_visible'
HAVING count(*) > 0;

-- The temporary tables above live in memory and spill to the temp directory at scale: freed
-- with this write, so that the next write does not stack its own on top of them.
DROP TABLE lbl_hide;
