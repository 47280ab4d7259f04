-- CTR labels for the impressions of $day. Base: user-traffic impressions whose item was
-- eligible at request time T and whose click window [T, T + $click_window_minutes] does
-- not overlap a tracking outage of click events. Everything else is excluded and counted.
-- Positive: a click on the item within the window, attributed to the request, or
-- unattributed from the same user and credited to that user's latest impression of the
-- item at or before the click. Negatives keep their type (first that applies):
--   explicit_hide     hidden in the same window
--   never_visible     visible_ms < $min_visible_ms (never scrolled into view)
--   skip_above        above the lowest click of the request
--   below_last_click  below the lowest click
--   exposed_no_click  in a request without any click
-- Weights come from the weight policy (bound parameters): the type weight, times a factor
-- by position, by unknown visibility, by distance below the last click, and by repeated
-- exposure (ui_prior_impressions >= $repeat_min).
CREATE OR REPLACE TEMP TABLE lbl_base AS
SELECT
    c.day, c.request_id, c.item_id, c.position, c.request_ts, c.user_id, c.surface, c.visible_ms,
    c.ui_prior_impressions, c.is_exploration, c.propensity, c.ineligible_reason,
    EXISTS (
        SELECT 1 FROM outages o
        WHERE o.start_ts <= c.request_ts + INTERVAL '1' MINUTE * CAST($click_window_minutes AS INTEGER)
          AND o.end_ts > c.request_ts
          AND (o.surface IS NULL OR o.surface = c.surface)
          AND (o.event_types IS NULL OR csv_contains(o.event_types, 'click'))
    ) AS in_click_outage
FROM impression_context c
WHERE c.day = $day;

-- user-traffic exposures of days around $day, to credit unattributed actions to the latest
-- one: only those of a (user, item) pair with such an action (few: most events are attributed)
CREATE OR REPLACE TEMP TABLE lbl_exposures AS
WITH unattributed AS (
    SELECT DISTINCT user_id, item_id
    FROM events
    WHERE day BETWEEN $day - 1 AND $day + 1 AND type IN ('click', 'hide') AND request_id IS NULL
      AND user_id IS NOT NULL
)
SELECT i.request_id, i.item_id, q.user_id, q.ts AS request_ts
FROM impressions i
JOIN requests q ON q.request_id = i.request_id AND q.day BETWEEN $day - 2 AND $day + 1
SEMI JOIN unattributed u ON u.user_id = q.user_id AND u.item_id = i.item_id
WHERE i.day BETWEEN $day - 1 AND $day + 1 AND i.traffic = 'user' AND q.user_id IS NOT NULL;

-- first click / hide per (request, item): attributed, or credited to the latest exposure
CREATE OR REPLACE TEMP TABLE lbl_actions AS
WITH attributed AS (
    SELECT e.type, e.request_id, e.item_id, e.ts
    FROM events e
    WHERE e.day BETWEEN $day - 1 AND $day + 1 AND e.type IN ('click', 'hide') AND e.request_id IS NOT NULL
),
credited AS (
    SELECT e.type, x.request_id, x.item_id, e.ts,
           row_number() OVER (PARTITION BY e.event_id ORDER BY x.request_ts DESC, x.request_id DESC) AS rk
    FROM events e
    JOIN lbl_exposures x
      ON x.user_id = e.user_id AND x.item_id = e.item_id
     AND e.ts >= x.request_ts AND e.ts <= x.request_ts + INTERVAL '1' MINUTE * CAST($click_window_minutes AS INTEGER)
    WHERE e.day BETWEEN $day - 1 AND $day + 1 AND e.type IN ('click', 'hide') AND e.request_id IS NULL
      AND e.user_id IS NOT NULL
)
SELECT b.request_id, b.item_id,
       min(a.ts) FILTER (WHERE a.type = 'click') AS click_ts,
       min(a.ts) FILTER (WHERE a.type = 'hide') AS hide_ts
FROM lbl_base b
JOIN (SELECT type, request_id, item_id, ts FROM attributed
      UNION ALL
      SELECT type, request_id, item_id, ts FROM credited WHERE rk = 1) a
  ON a.request_id = b.request_id AND a.item_id = b.item_id
 AND a.ts >= b.request_ts AND a.ts <= b.request_ts + INTERVAL '1' MINUTE * CAST($click_window_minutes AS INTEGER)
GROUP BY b.request_id, b.item_id;

CREATE OR REPLACE TEMP TABLE lbl_ctr AS
WITH typed AS (
    SELECT
        b.*,
        a.click_ts,
        a.hide_ts,
        max(CASE WHEN a.click_ts IS NOT NULL THEN b.position END) OVER (PARTITION BY b.request_id) AS last_click_position,
        CASE
            WHEN b.in_click_outage THEN 'tracking_outage'
            WHEN b.ineligible_reason IS NOT NULL THEN b.ineligible_reason
            WHEN a.click_ts IS NULL AND b.visible_ms < $min_visible_ms AND $exclude_never_visible THEN 'never_visible'
        END AS exclusion
    FROM lbl_base b
    LEFT JOIN lbl_actions a ON a.request_id = b.request_id AND a.item_id = b.item_id
),
labelled AS (
    SELECT
        *,
        CASE WHEN click_ts IS NOT NULL THEN 1 ELSE 0 END AS label,
        CASE
            WHEN click_ts IS NOT NULL THEN NULL
            WHEN hide_ts IS NOT NULL THEN 'explicit_hide'
            WHEN visible_ms < $min_visible_ms THEN 'never_visible'
            WHEN last_click_position IS NOT NULL AND position < last_click_position THEN 'skip_above'
            WHEN last_click_position IS NOT NULL THEN 'below_last_click'
            ELSE 'exposed_no_click'
        END AS negative_type
    FROM typed
),
factors AS (
    SELECT unnest($pf_max) AS max_position, unnest($pf_factor) AS factor
),
buckets AS (  -- position buckets (lo, hi]: a range join instead of a lookup per row
    SELECT coalesce(lag(max_position) OVER (ORDER BY max_position), 0) AS lo, max_position AS hi, factor FROM factors
)
SELECT
    l.*,
    CASE
        WHEN l.label = 1 THEN $w_positive
        ELSE
            CASE l.negative_type
                WHEN 'explicit_hide' THEN $w_explicit_hide
                WHEN 'never_visible' THEN $w_never_visible
                WHEN 'skip_above' THEN $w_skip_above
                WHEN 'below_last_click' THEN $w_below_last_click
                ELSE $w_exposed_no_click
            END
            * f.factor
            * CASE WHEN l.visible_ms IS NULL THEN $visibility_unknown_factor ELSE 1.0 END
            * CASE WHEN l.negative_type = 'below_last_click'
                   THEN pow($below_decay, greatest(0, l.position - l.last_click_position - $below_free))
                   ELSE 1.0 END
            * CASE WHEN l.ui_prior_impressions >= $repeat_min THEN $repeat_factor ELSE 1.0 END
    END AS weight
FROM labelled l
LEFT JOIN buckets f ON l.position > f.lo AND l.position <= f.hi;

DELETE FROM ctr_labels WHERE day = $day;

INSERT INTO ctr_labels
SELECT day, request_id, item_id, position, request_ts, user_id, label, weight, negative_type, NULL, click_ts,
       visible_ms, ui_prior_impressions, is_exploration, propensity, $weight_policy
FROM lbl_ctr
WHERE exclusion IS NULL;

DELETE FROM label_exclusions WHERE day = $day AND task = 'ctr';

INSERT INTO label_exclusions
SELECT $day, 'ctr', exclusion, count(*) FROM lbl_ctr WHERE exclusion IS NOT NULL GROUP BY exclusion
UNION ALL
SELECT $day, 'ctr', 'traffic_' || traffic, count(*) FROM impressions WHERE day = $day AND traffic <> 'user' GROUP BY traffic
UNION ALL
SELECT $day, 'ctr', 'not_shown', count(*)
FROM candidates c
JOIN requests q ON q.request_id = c.request_id AND q.day = $day
WHERE c.day = $day AND NOT c.shown AND q.traffic = 'user'
HAVING count(*) > 0;

-- The temporary tables above live in memory and spill to the temp directory at scale: freed
-- with this write, so that the next write does not stack its own on top of them.
DROP TABLE lbl_actions;
DROP TABLE lbl_base;
DROP TABLE lbl_ctr;
DROP TABLE lbl_exposures;
