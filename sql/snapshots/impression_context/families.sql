-- impression_context's history families for the probes of one anchor day ($anchor = $day for
-- the day's own requests, $day - 1 for late probes, $late): see probes.sql for the composition.
-- The rows the windows' edges need: those available on $anchor (counted up to T) and on the days
-- $history_days and $popularity_days before it, shifted by their window (counted from T - d).
-- h and p: the row's sign in the history and the popularity window.
CREATE OR REPLACE TABLE ctx_steps AS
WITH rows AS (
    SELECT user_id, item_id, category, query_key, kind, avail, avail_day, exposure
    FROM history_rows
    WHERE day BETWEEN $anchor - greatest($history_days, $popularity_days) - 1 AND $day
      AND avail_day IN ($anchor, $anchor - $history_days, $anchor - $popularity_days)
      AND CASE WHEN kind = 'exposure'
               THEN day >= $anchor - $popularity_days - 1 AND avail_day >= $anchor - $popularity_days - 1
               ELSE day >= $anchor - $history_days - 1 END
)
SELECT user_id, item_id, category, query_key, kind, avail, exposure, avail AS t, 'today' AS role, 1 AS h, 1 AS p
FROM rows WHERE avail_day = $anchor
UNION ALL
SELECT user_id, item_id, category, query_key, kind, avail, exposure,
       avail + INTERVAL '1' DAY * CAST($history_days AS INTEGER), 'edge_h', -1, 0
FROM rows WHERE avail_day = $anchor - $history_days
UNION ALL
SELECT user_id, item_id, category, query_key, kind, avail, exposure,
       avail + INTERVAL '1' DAY * CAST($popularity_days AS INTEGER), 'edge_p', 0, -1
FROM rows WHERE avail_day = $anchor - $popularity_days;

-- The whole days before $anchor, with the same rules for which rows may be read (a measure of
-- rows that may not is zero, a latest time NULL).
CREATE OR REPLACE TABLE ctx_roll AS
WITH r AS (
    SELECT *,
        day >= $anchor - $history_days - 1 AS events_ok,
        day >= $anchor - $popularity_days - 1 AND avail_day >= $anchor - $popularity_days - 1 AS exposures_ok
    FROM history_rollups
    WHERE day BETWEEN $anchor - greatest($history_days, $popularity_days) - 1 AND $day
      AND avail_day BETWEEN $anchor - greatest($history_days, $popularity_days) AND $anchor - 1
)
SELECT
    family, user_id, item_id, category, query_key, avail_day,
    CASE WHEN events_ok THEN clicks ELSE 0 END AS clicks,
    CASE WHEN events_ok THEN purchases ELSE 0 END AS purchases,
    CASE WHEN exposures_ok THEN impressions ELSE 0 END AS impressions,
    CASE WHEN exposures_ok THEN exposure ELSE 0 END AS exposure,
    CASE WHEN events_ok THEN last_click END AS last_click,
    CASE WHEN events_ok THEN last_event END AS last_event,
    CASE WHEN exposures_ok THEN last_exposure END AS last_exposure
FROM r
WHERE (events_ok AND clicks + purchases > 0) OR exposures_ok;

-- user: clicks, purchases, last click (probe per request)
CREATE OR REPLACE TABLE ctx_user AS
WITH probes AS (SELECT DISTINCT _rq, user_id, request_ts AS t FROM ctx_base WHERE late = $late AND user_id IS NOT NULL),
keys AS (SELECT DISTINCT user_id FROM probes),
tl AS (
    SELECT s.user_id, s.t, 1 AS ord, NULL AS _rq, s.role, s.kind, s.avail, s.h
    FROM ctx_steps s JOIN keys k ON k.user_id = s.user_id
    WHERE s.kind <> 'exposure' AND s.role <> 'edge_p'
    UNION ALL
    SELECT user_id, t, 0, _rq, 'probe', NULL, NULL, 0 FROM probes
),
run AS (
    SELECT
        _rq, user_id, role,
        sum(CASE WHEN kind = 'click' THEN h ELSE 0 END) OVER up AS clicks,
        sum(CASE WHEN kind = 'purchase' THEN h ELSE 0 END) OVER up AS purchases,
        max(CASE WHEN role = 'today' AND kind = 'click' THEN avail END) OVER up AS today_click,
        max(CASE WHEN role = 'today' THEN avail END) OVER up AS today_used,
        max(CASE WHEN role = 'edge_h' AND kind = 'click' THEN avail END) OVER down AS edge_click,
        max(CASE WHEN role = 'edge_h' THEN avail END) OVER down AS edge_used
    FROM tl
    WINDOW up AS (PARTITION BY user_id ORDER BY t, ord ROWS UNBOUNDED PRECEDING),
           down AS (PARTITION BY user_id ORDER BY t DESC, ord DESC ROWS UNBOUNDED PRECEDING)
),
whole AS (
    SELECT
        r.user_id,
        sum(CASE WHEN r.avail_day >= $anchor - $history_days THEN r.clicks ELSE 0 END) AS clicks,
        sum(CASE WHEN r.avail_day >= $anchor - $history_days THEN r.purchases ELSE 0 END) AS purchases,
        max(CASE WHEN r.avail_day > $anchor - $history_days THEN r.last_click END) AS last_click,
        max(CASE WHEN r.avail_day > $anchor - $history_days THEN r.last_event END) AS last_used
    FROM ctx_roll r JOIN keys k ON k.user_id = r.user_id
    WHERE r.family = 'user'
    GROUP BY r.user_id
),
out AS (
    SELECT
        p._rq,
        CAST(coalesce(w.clicks, 0) + p.clicks AS BIGINT) AS u_clicks,
        CAST(coalesce(w.purchases, 0) + p.purchases AS BIGINT) AS u_purchases,
        greatest(p.today_click, w.last_click, p.edge_click) AS u_last_click,
        greatest(p.today_used, w.last_used, p.edge_used) AS max_used
    FROM run p LEFT JOIN whole w ON w.user_id = p.user_id
    WHERE p.role = 'probe'
)
SELECT * FROM out WHERE max_used IS NOT NULL;

-- user x category: clicks, purchases, recent clicks, recent exposure (probe per request and
-- category on the slate)
CREATE OR REPLACE TABLE ctx_user_category AS
WITH probes AS (
    SELECT DISTINCT _rq, user_id, category, request_ts AS t FROM ctx_base
    WHERE late = $late AND user_id IS NOT NULL AND category IS NOT NULL
),
keys AS (SELECT DISTINCT user_id, category FROM probes),
tl AS (  -- a slate's rows of one category share their key and instant: one step each
    SELECT
        s.user_id, s.category, s.t, 1 AS ord, NULL AS _rq, s.role,
        sum(CASE WHEN s.kind = 'click' THEN s.h ELSE 0 END) AS clicks,
        sum(CASE WHEN s.kind = 'purchase' THEN s.h ELSE 0 END) AS purchases,
        sum(CASE WHEN s.kind = 'click' THEN s.p ELSE 0 END) AS recent_clicks,
        sum(CASE WHEN s.kind = 'exposure' THEN s.p * s.exposure ELSE 0 END) AS exposure
    FROM ctx_steps s JOIN keys k ON k.user_id = s.user_id AND k.category = s.category
    GROUP BY s.user_id, s.category, s.t, s.role
    UNION ALL
    SELECT user_id, category, t, 0, _rq, 'probe', 0, 0, 0, 0.0 FROM probes
),
run AS (
    SELECT
        _rq, user_id, category, role,
        sum(clicks) OVER up AS clicks,
        sum(purchases) OVER up AS purchases,
        sum(recent_clicks) OVER up AS recent_clicks,
        sum(exposure) OVER up AS exposure
    FROM tl
    WINDOW up AS (PARTITION BY user_id, category ORDER BY t, ord ROWS UNBOUNDED PRECEDING)
),
whole AS (
    SELECT
        r.user_id, r.category,
        sum(CASE WHEN r.avail_day >= $anchor - $history_days THEN r.clicks ELSE 0 END) AS clicks,
        sum(CASE WHEN r.avail_day >= $anchor - $history_days THEN r.purchases ELSE 0 END) AS purchases,
        sum(CASE WHEN r.avail_day >= $anchor - $popularity_days THEN r.clicks ELSE 0 END) AS recent_clicks,
        sum(CASE WHEN r.avail_day >= $anchor - $popularity_days THEN r.exposure ELSE 0 END) AS exposure
    FROM ctx_roll r JOIN keys k ON k.user_id = r.user_id AND k.category = r.category
    WHERE r.family = 'user_category'
    GROUP BY r.user_id, r.category
),
out AS (
    SELECT
        p._rq, p.category,
        CAST(coalesce(w.clicks, 0) + p.clicks AS BIGINT) AS uc_clicks,
        CAST(coalesce(w.purchases, 0) + p.purchases AS BIGINT) AS uc_purchases,
        CAST(coalesce(w.recent_clicks, 0) + p.recent_clicks AS BIGINT) AS uc_recent_clicks,
        CAST(coalesce(w.exposure, 0) + p.exposure AS DOUBLE) AS uc_exposure
    FROM run p LEFT JOIN whole w ON w.user_id = p.user_id AND w.category = p.category
    WHERE p.role = 'probe'
)
SELECT * FROM out WHERE uc_clicks > 0 OR uc_purchases > 0 OR uc_recent_clicks > 0 OR uc_exposure <> 0;

-- user x item: past clicks and past exposures of this item to this user (probe per impression)
CREATE OR REPLACE TABLE ctx_user_item AS
WITH probes AS (SELECT _k, user_id, item_id, request_ts AS t FROM ctx_base WHERE late = $late AND user_id IS NOT NULL),
keys AS (SELECT DISTINCT user_id, item_id FROM probes),
tl AS (
    SELECT s.user_id, s.item_id, s.t, 1 AS ord, NULL AS _k, s.role, s.kind, s.h, s.p
    FROM ctx_steps s JOIN keys k ON k.user_id = s.user_id AND k.item_id = s.item_id
    WHERE s.kind <> 'purchase'
    UNION ALL
    SELECT user_id, item_id, t, 0, _k, 'probe', NULL, 0, 0 FROM probes
),
run AS (
    SELECT
        _k, user_id, item_id, role,
        sum(CASE WHEN kind = 'click' THEN h ELSE 0 END) OVER up AS clicks,
        sum(CASE WHEN kind = 'exposure' THEN p ELSE 0 END) OVER up AS impressions
    FROM tl
    WINDOW up AS (PARTITION BY user_id, item_id ORDER BY t, ord ROWS UNBOUNDED PRECEDING)
),
whole AS (  -- no rollup: about one row per pair and day, so the rows themselves, of today's pairs only
    SELECT
        h.user_id, h.item_id,
        sum(CASE WHEN h.kind = 'click' THEN 1 ELSE 0 END) AS clicks,
        sum(CASE WHEN h.kind = 'exposure' THEN 1 ELSE 0 END) AS impressions
    FROM history_rows h JOIN keys k ON k.user_id = h.user_id AND k.item_id = h.item_id
    WHERE h.day BETWEEN $anchor - greatest($history_days, $popularity_days) - 1 AND $day
      AND h.avail_day BETWEEN $anchor - greatest($history_days, $popularity_days) AND $anchor - 1
      AND ((h.kind = 'click' AND h.day >= $anchor - $history_days - 1 AND h.avail_day >= $anchor - $history_days)
           OR (h.kind = 'exposure' AND h.day >= $anchor - $popularity_days - 1 AND h.avail_day >= $anchor - $popularity_days))
    GROUP BY h.user_id, h.item_id
),
out AS (
    SELECT
        p._k,
        CAST(coalesce(w.clicks, 0) + p.clicks AS BIGINT) AS ui_clicks,
        CAST(coalesce(w.impressions, 0) + p.impressions AS BIGINT) AS ui_prior_impressions
    FROM run p LEFT JOIN whole w ON w.user_id = p.user_id AND w.item_id = p.item_id
    WHERE p.role = 'probe'
)
SELECT * FROM out WHERE ui_clicks > 0 OR ui_prior_impressions > 0;

-- item popularity: impressions, clicks, purchases over the $popularity_days whole days before
-- $anchor (no edge) plus $anchor up to T (probe per impression). No probe timeline: every probe at
-- T on $anchor has its own exposure among the day's rows at T (history_rows_complete), so the
-- totals before each (item, instant) of the rows are read by an equality join; a probe at T
-- before $anchor (its request the evening before) finds none, and none of $anchor's rows is before it.
CREATE OR REPLACE TABLE ctx_item AS
WITH keys AS (SELECT DISTINCT item_id FROM ctx_base WHERE late = $late),
points AS (  -- $anchor's rows per item and instant
    SELECT s.item_id, s.t,
        sum(CASE WHEN s.kind = 'exposure' THEN 1 ELSE 0 END) AS impressions,
        sum(CASE WHEN s.kind = 'click' THEN 1 ELSE 0 END) AS clicks,
        sum(CASE WHEN s.kind = 'purchase' THEN 1 ELSE 0 END) AS purchases,
        sum(s.exposure) AS exposure
    FROM ctx_steps s JOIN keys k ON k.item_id = s.item_id
    WHERE s.role = 'today'
    GROUP BY s.item_id, s.t
),
before AS (  -- the totals before each instant, and the instant before it (the latest row used)
    SELECT item_id, t,
        sum(impressions) OVER w - impressions AS impressions,
        sum(clicks) OVER w - clicks AS clicks,
        sum(purchases) OVER w - purchases AS purchases,
        sum(exposure) OVER w - exposure AS exposure,
        lag(t) OVER w AS today_used
    FROM points
    WINDOW w AS (PARTITION BY item_id ORDER BY t ROWS UNBOUNDED PRECEDING)
),
whole AS (
    SELECT
        r.item_id,
        sum(r.impressions) AS impressions, sum(r.clicks) AS clicks, sum(r.purchases) AS purchases,
        sum(r.exposure) AS exposure, greatest(max(r.last_event), max(r.last_exposure)) AS last_used
    FROM ctx_roll r JOIN keys k ON k.item_id = r.item_id
    WHERE r.family = 'item' AND r.avail_day >= $anchor - $popularity_days
    GROUP BY r.item_id
),
out AS (
    SELECT
        p._k,
        CAST(coalesce(w.impressions, 0) + coalesce(b.impressions, 0) AS BIGINT) AS i_impressions,
        CAST(coalesce(w.clicks, 0) + coalesce(b.clicks, 0) AS BIGINT) AS i_clicks,
        CAST(coalesce(w.purchases, 0) + coalesce(b.purchases, 0) AS BIGINT) AS i_purchases,
        CAST(coalesce(w.exposure, 0) + coalesce(b.exposure, 0) AS DOUBLE) AS i_exposure,
        greatest(b.today_used, w.last_used) AS max_used
    FROM ctx_base p
    LEFT JOIN before b ON b.item_id = p.item_id AND b.t = p.request_ts
    LEFT JOIN whole w ON w.item_id = p.item_id
    WHERE p.late = $late
)
SELECT * FROM out WHERE max_used IS NOT NULL;

-- query: clicks after this query (probe per request); max_used is the latest click or
-- exposure of the query in the history window
CREATE OR REPLACE TABLE ctx_query AS
WITH probes AS (SELECT DISTINCT _rq, query_key, request_ts AS t FROM ctx_base WHERE late = $late AND query_key IS NOT NULL),
keys AS (SELECT DISTINCT query_key FROM probes),
tl AS (  -- a slate's rows share their query and instant: one step each
    SELECT
        s.query_key, s.t, 1 AS ord, NULL AS _rq, s.role, max(s.avail) AS avail,
        sum(CASE WHEN s.kind = 'click' THEN s.h ELSE 0 END) AS clicks
    FROM ctx_steps s JOIN keys k ON k.query_key = s.query_key
    WHERE s.kind <> 'purchase' AND s.role <> 'edge_p'
    GROUP BY s.query_key, s.t, s.role
    UNION ALL
    SELECT query_key, t, 0, _rq, 'probe', NULL, 0 FROM probes
),
run AS (
    SELECT
        _rq, query_key, role,
        sum(clicks) OVER up AS clicks,
        max(CASE WHEN role = 'today' THEN avail END) OVER up AS today_used,
        max(CASE WHEN role = 'edge_h' THEN avail END) OVER down AS edge_used
    FROM tl
    WINDOW up AS (PARTITION BY query_key ORDER BY t, ord ROWS UNBOUNDED PRECEDING),
           down AS (PARTITION BY query_key ORDER BY t DESC, ord DESC ROWS UNBOUNDED PRECEDING)
),
whole AS (
    SELECT
        r.query_key,
        sum(CASE WHEN r.avail_day >= $anchor - $history_days THEN r.clicks ELSE 0 END) AS clicks,
        greatest(max(CASE WHEN r.avail_day > $anchor - $history_days THEN r.last_click END),
                 max(CASE WHEN r.avail_day > $anchor - $history_days THEN r.last_exposure END)) AS last_used
    FROM ctx_roll r JOIN keys k ON k.query_key = r.query_key
    WHERE r.family = 'query'
    GROUP BY r.query_key
),
out AS (
    SELECT
        p._rq,
        CAST(coalesce(w.clicks, 0) + p.clicks AS BIGINT) AS q_clicks,
        greatest(p.today_used, w.last_used, p.edge_used) AS max_used
    FROM run p LEFT JOIN whole w ON w.query_key = p.query_key
    WHERE p.role = 'probe'
)
SELECT * FROM out WHERE max_used IS NOT NULL;

-- query x category: clicks after this query on items of the category, in total and recent,
-- and the category's recent exposure after it (probe per request and category; a NULL
-- category is a key of its own)
CREATE OR REPLACE TABLE ctx_query_category AS
WITH probes AS (
    SELECT DISTINCT _rq, query_key, category, request_ts AS t FROM ctx_base WHERE late = $late AND query_key IS NOT NULL
),
keys AS (SELECT DISTINCT query_key, category FROM probes),
tl AS (  -- a slate's rows of one category share their key and instant: one step each
    SELECT
        s.query_key, s.category, s.t, 1 AS ord, NULL AS _rq, s.role,
        sum(CASE WHEN s.kind = 'click' THEN s.h ELSE 0 END) AS clicks,
        sum(CASE WHEN s.kind = 'click' THEN s.p ELSE 0 END) AS recent_clicks,
        sum(CASE WHEN s.kind = 'exposure' THEN s.p * s.exposure ELSE 0 END) AS exposure
    FROM ctx_steps s JOIN keys k ON k.query_key = s.query_key AND k.category IS NOT DISTINCT FROM s.category
    WHERE s.kind <> 'purchase'
    GROUP BY s.query_key, s.category, s.t, s.role
    UNION ALL
    SELECT query_key, category, t, 0, _rq, 'probe', 0, 0, 0.0 FROM probes
),
run AS (
    SELECT
        _rq, query_key, category, role,
        sum(clicks) OVER up AS clicks,
        sum(recent_clicks) OVER up AS recent_clicks,
        sum(exposure) OVER up AS exposure
    FROM tl
    WINDOW up AS (PARTITION BY query_key, category ORDER BY t, ord ROWS UNBOUNDED PRECEDING)
),
whole AS (
    SELECT
        r.query_key, r.category,
        sum(CASE WHEN r.avail_day >= $anchor - $history_days THEN r.clicks ELSE 0 END) AS clicks,
        sum(CASE WHEN r.avail_day >= $anchor - $popularity_days THEN r.clicks ELSE 0 END) AS recent_clicks,
        sum(CASE WHEN r.avail_day >= $anchor - $popularity_days THEN r.exposure ELSE 0 END) AS exposure
    FROM ctx_roll r JOIN keys k ON k.query_key = r.query_key AND k.category IS NOT DISTINCT FROM r.category
    WHERE r.family = 'query_category'
    GROUP BY r.query_key, r.category
),
out AS (
    SELECT
        p._rq, p.category,
        CAST(coalesce(w.clicks, 0) + p.clicks AS BIGINT) AS qc_clicks,
        CAST(coalesce(w.recent_clicks, 0) + p.recent_clicks AS BIGINT) AS qc_recent_clicks,
        CAST(coalesce(w.exposure, 0) + p.exposure AS DOUBLE) AS qc_exposure
    FROM run p LEFT JOIN whole w ON w.query_key = p.query_key AND w.category IS NOT DISTINCT FROM p.category
    WHERE p.role = 'probe'
)
SELECT * FROM out WHERE qc_clicks > 0 OR qc_recent_clicks > 0 OR qc_exposure <> 0;

-- query x item: clicks on this item after this query (probe per impression)
CREATE OR REPLACE TABLE ctx_query_item AS
WITH probes AS (SELECT _k, query_key, item_id, request_ts AS t FROM ctx_base WHERE late = $late AND query_key IS NOT NULL),
keys AS (SELECT DISTINCT query_key, item_id FROM probes),
tl AS (
    SELECT s.query_key, s.item_id, s.t, 1 AS ord, NULL AS _k, s.role, s.kind, s.h
    FROM ctx_steps s JOIN keys k ON k.query_key = s.query_key AND k.item_id = s.item_id
    WHERE s.kind = 'click' AND s.role <> 'edge_p'
    UNION ALL
    SELECT query_key, item_id, t, 0, _k, 'probe', NULL, 0 FROM probes
),
run AS (
    SELECT _k, query_key, item_id, role, sum(h) OVER up AS clicks
    FROM tl
    WINDOW up AS (PARTITION BY query_key, item_id ORDER BY t, ord ROWS UNBOUNDED PRECEDING)
),
whole AS (
    SELECT r.query_key, r.item_id, sum(r.clicks) AS clicks
    FROM ctx_roll r JOIN keys k ON k.query_key = r.query_key AND k.item_id = r.item_id
    WHERE r.family = 'query_item' AND r.avail_day >= $anchor - $history_days
    GROUP BY r.query_key, r.item_id
),
out AS (
    SELECT p._k, CAST(coalesce(w.clicks, 0) + p.clicks AS BIGINT) AS qi_clicks
    FROM run p LEFT JOIN whole w ON w.query_key = p.query_key AND w.item_id = p.item_id
    WHERE p.role = 'probe'
)
SELECT * FROM out WHERE qi_clicks > 0;

