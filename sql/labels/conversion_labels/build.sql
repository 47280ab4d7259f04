-- Conversion labels for the clicks on impressions of $day. Base: CTR positives.
-- Positive: a purchase of the item within (click_ts, click_ts + $conversion_window_days],
-- attributed to the same request, or by the same (known) user. Without a purchase the
-- label is NULL with a reason when the outcome could not be observed, first that applies:
--   item_unavailable  a version of the item valid inside the window is out of stock,
--                     deleted or banned (the opportunity to buy disappeared)
--   tracking_outage   an outage of purchase events overlaps the window
--   window_open       the window ends after $label_cutoff, the end of the last complete
--                     day of events; the partition is rebuilt as later days arrive
-- otherwise 0 with negative_type clicked_no_conversion.
CREATE OR REPLACE TEMP TABLE lbl_conversion AS
WITH base AS (
    SELECT l.day, l.request_id, l.item_id, l.user_id, l.click_ts,
           l.click_ts + INTERVAL '1' DAY * CAST($conversion_window_days AS INTEGER) AS window_end,
           c.surface
    FROM ctr_labels l
    JOIN impression_context c ON c.day = l.day AND c.request_id = l.request_id AND c.item_id = l.item_id
    WHERE l.day = $day AND l.label = 1
),
purchases AS (
    SELECT b.request_id, b.item_id, min(e.ts) AS purchase_ts
    FROM base b
    JOIN events e
      ON e.item_id = b.item_id
     AND (e.request_id = b.request_id OR (b.user_id IS NOT NULL AND e.user_id = b.user_id))
     AND e.ts > b.click_ts AND e.ts <= b.window_end
    WHERE e.type = 'purchase' AND e.day BETWEEN $day AND $day + $conversion_window_days + 1
    GROUP BY b.request_id, b.item_id
)
SELECT
    b.*,
    p.purchase_ts,
    CASE
        WHEN p.purchase_ts IS NOT NULL THEN NULL
        WHEN EXISTS (
            SELECT 1 FROM items v
            WHERE v.item_id = b.item_id AND v.valid_from > b.click_ts AND v.valid_from <= b.window_end
              AND (NOT v.in_stock OR v.status <> 'active')
        ) THEN 'item_unavailable'
        WHEN EXISTS (
            SELECT 1 FROM outages o
            WHERE o.start_ts <= b.window_end AND o.end_ts > b.click_ts
              AND (o.surface IS NULL OR o.surface = b.surface)
              AND (o.event_types IS NULL
                   OR csv_contains(o.event_types, 'purchase'))
        ) THEN 'tracking_outage'
        WHEN b.window_end > $label_cutoff THEN 'window_open'
    END AS censor_reason
FROM base b
LEFT JOIN purchases p USING (request_id, item_id);

DELETE FROM conversion_labels WHERE day = $day;

INSERT INTO conversion_labels
SELECT
    day, request_id, item_id, user_id, click_ts, window_end,
    CASE WHEN purchase_ts IS NOT NULL THEN 1 WHEN censor_reason IS NULL THEN 0 END,
    CASE WHEN censor_reason IS NULL THEN 1.0 ELSE 0.0 END,
    CASE WHEN purchase_ts IS NULL AND censor_reason IS NULL THEN 'clicked_no_conversion' END,
    censor_reason, purchase_ts, $label_cutoff
FROM lbl_conversion;

DELETE FROM label_exclusions WHERE day = $day AND task = 'conversion';

INSERT INTO label_exclusions
SELECT $day, 'conversion', 'censored_' || censor_reason, count(*)
FROM lbl_conversion WHERE censor_reason IS NOT NULL GROUP BY censor_reason;

-- The temporary tables above live in memory and spill to the temp directory at scale: freed
-- with this write, so that the next write does not stack its own on top of them.
DROP TABLE lbl_conversion;
